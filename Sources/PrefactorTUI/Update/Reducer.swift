import Foundation
import PrefactorCore
import PrefactorWire

extension AppModel {
    /// Shown while a new run registers; cleared when it is selected.
    public static let registeringMessage = Message(text: "Registering a new run…", isError: false)

    /// The default schema name offered when adding a span.
    public static let defaultSchemaName = "agent:step"

    /// Handles one key: updates the interface state and returns what the runtime must do.
    public mutating func handle(_ key: Key) -> [Effect] {
        defer { refreshRows() }
        if key == .interrupt { return [.interrupt] }
        if quitting {
            if keyMap.translate(key) == .character("q") { return [.quit(drain: false)] }
            return []
        }
        if showHelp {
            // Scroll keys scroll the overlay when it does not fit; any other key closes it and does nothing else.
            let overflow = HelpBox(width: width, height: height).overflow
            if overflow > 0,
                let step = Self.scrollStep(
                    for: keyMap.translate(key) ?? key, page: HelpBox(width: width, height: height).visibleLines)
            {
                helpScroll = min(max(0, helpScroll + step), overflow)
            } else {
                showHelp = false
            }
            return []
        }
        if let confirmation {
            self.confirmation = nil
            if key == .character("y") || key == .character("Y") { return confirmation.effects }
            message = Message(text: "Cancelled", isError: false)
            return []
        }
        if prompt != nil { return handlePrompt(key) }
        if let effects = handlePicker(key) { return effects }
        if filterEditing { return handleFilter(key) }
        message = nil
        guard let key = keyMap.translate(key) else { return unboundKey(key) }
        switch key {
        case .character("q"):
            quitting = true
            return [.quit(drain: true)]
        case .character("?"):
            showHelp = true
            helpScroll = 0
        case .tab:
            focus = Pane.allCases[(Pane.allCases.firstIndex(of: focus)! + 1) % Pane.allCases.count]
        case .backTab:
            focus = Pane.allCases[(Pane.allCases.firstIndex(of: focus)! + Pane.allCases.count - 1) % Pane.allCases.count]
        case .character("/"):
            filterEditing = true
        case .escape:
            if operationDetail != nil {
                operationDetail = nil
                detailScroll = 0
            } else if focus == .queue, let view = fileView {
                fileView = nil
                queueSelection = nil
                message = Message(text: "Closed \(view.path); showing this process's queue", isError: false)
                return [.closeQueueFile]
            } else if !filter.isEmpty {
                filter = ""
            } else if errorsOnly {
                errorsOnly = false
            } else if statusFilter != .all {
                statusFilter = .all
            }
        case .character("e"):
            errorsOnly.toggle()
            message = Message(
                text: errorsOnly ? "Errors only: failed, cancelled and terminated" : "Showing everything", isError: false)
        case .character("W"):
            guard var view = remote else {
                message = Message(text: "Not watching other processes (start with --watch)", isError: true)
                break
            }
            let choices = RemoteView.intervalChoices
            view.interval = choices.first { $0 > view.interval + 0.001 } ?? choices[0]
            remote = view
            message = Message(text: "Polling the API every \(RemoteView.describe(view.interval))", isError: false)
            return [.setWatchInterval(view.interval)]
        case .character("O"):
            message = Message(text: "Looking for queue files…", isError: false)
            return [.listQueueFiles]
        case .character("y"):
            return copySelection()
        case .character("E"):
            return exportSelection()
        case .character("F"):
            follow.toggle()
            message = Message(text: follow ? "Follow on: the newest activity stays in view" : "Follow off", isError: false)
            if follow { refreshRows(); followNewest() }
        case .redraw:
            break
        default:
            if let effects = handleViewKey(key) { return effects }
            // Action keys act on the selection whichever pane has the focus; movement keys move in the focused pane.
            if focus == .queue, let effects = handleQueue(key) { return effects }
            if focus == .tree || key.isAction { return handleTree(key) }
            scrollPane(key)
        }
        return []
    }

    /// How far a movement key scrolls a pane of `page` lines, or `nil` for any other key.
    static func scrollStep(for key: Key, page: Int) -> Int? {
        switch key {
        case .up, .character("k"): return -1
        case .down, .character("j"): return 1
        case .pageUp: return -max(1, page - 1)
        case .pageDown: return max(1, page - 1)
        case .home, .character("g"): return -1_000_000
        case .end, .character("G"): return 1_000_000
        default: return nil
        }
    }

    private mutating func scrollPane(_ key: Key) {
        guard let step = Self.scrollStep(for: key, page: 11) else { return }
        if focus == .detail { detailScroll = max(0, detailScroll + step) } else { queueScroll = max(0, queueScroll + step) }
    }

    private mutating func move(by offset: Int) {
        guard !rows.isEmpty else { return }
        follow = false
        let index = selectedIndex ?? 0
        let target = min(max(0, index + offset), rows.count - 1)
        selection = rows[target].node
        noteSelection(at: target)
        detailScroll = 0
        clampScroll()
    }

    private mutating func handleTree(_ key: Key) -> [Effect] {
        switch key {
        case .up, .character("k"): move(by: -1)
        case .down, .character("j"): move(by: 1)
        case .pageUp: move(by: -max(1, treeRowsVisible - 1))
        case .pageDown: move(by: max(1, treeRowsVisible - 1))
        case .home, .character("g"): move(by: -rows.count)
        case .end, .character("G"): move(by: rows.count)
        case .left, .character("h"):
            guard let selection else { break }
            if !collapsed.contains(selection), tree.children[selection]?.isEmpty == false {
                collapsed.insert(selection)
            } else if let parent = tree.parent(of: selection) {
                self.selection = parent
                follow = false
            }
        case .right, .character("l"):
            if let selection {
                collapsed.remove(selection)
                if needsRemoteSpans(selection) { return [.loadRemoteSpans(selection.rawID)] }
            }
        case .character(" "), .enter:
            if let selection, needsRemoteSpans(selection) {
                collapsed.remove(selection)
                return [.loadRemoteSpans(selection.rawID)]
            }
            if let selection, tree.children[selection]?.isEmpty == false {
                if collapsed.contains(selection) { collapsed.remove(selection) } else { collapsed.insert(selection) }
            }
        case .character("-"):
            collapsed = Set(tree.instanceOrder.map(NodeID.instance)).union(
                tree.children.keys.filter { tree.children[$0]?.isEmpty == false })
            if let selection, let instanceID = tree.instanceID(of: selection) { self.selection = .instance(instanceID) }
        case .character("="):
            collapsed.removeAll()
            // Folded runs of other processes open too: their spans are fetched.
            let unloaded = tree.instanceOrder.filter { needsRemoteSpans(.instance($0)) }
            if !unloaded.isEmpty {
                message = Message(text: "Loading the spans of \(unloaded.count) run(s) of other processes", isError: false)
                return unloaded.map(Effect.loadRemoteSpans)
            }
        case .character("p"):
            if readonly { return refuse("Read-only mode: p is disabled") }
            guard demo != nil else {
                message = Message(text: "No demo agent is running (start with --demo)", isError: true)
                break
            }
            return [.toggleDemo]
        case .character(let character) where "nasfxcT".contains(character):
            return mutating(character)
        default:
            break
        }
        return []
    }

    private mutating func refuse(_ text: String) -> [Effect] {
        message = Message(text: text, isError: true)
        return []
    }

    private mutating func ask(_ question: String, _ effect: Effect, before: [Effect] = []) -> [Effect] {
        if noConfirm { return before + [effect] }
        confirmation = Confirmation(question: question, effect: effect, before: before)
        return []
    }

    /// Finishing a run or a span with open spans under it: those are cancelled first (deepest first, so that no
    /// span outlives its parent), and the operator is told, or asked when the finish was not going to be asked.
    private mutating func finish(_ node: NodeID, _ effect: Effect, question: String?) -> [Effect] {
        let open = openDescendants(of: node)
        guard !open.isEmpty else { return question.map { ask($0, effect) } ?? [effect] }
        let cancels = open.map { Effect.finishSpan($0, .cancelled) }
        let count = open.count == 1 ? "1 running span under it is" : "\(open.count) running spans under it are"
        let what = question.map { String($0.dropLast(" (y/n)".count)) } ?? Self.describeFinish(effect, tree: tree)
        let text = "\(what) \(count) cancelled first. (y/n)"
        if noConfirm { message = Message(text: "Cancelling \(open.count) running span(s) under it first", isError: false) }
        return ask(text, effect, before: cancels)
    }

    private static func describeFinish(_ effect: Effect, tree: TraceTree) -> String {
        switch effect {
        case .finishSpan(let id, _): return "Finish span \(tree.spans[id]?.span.schemaName ?? id)?"
        case .finishInstance(let id, _): return "Finish instance \(id)?"
        default: return "Finish?"
        }
    }

    /// Spans under a node that are running, deepest first (prepared ones never ran and stay as they are).
    public func openDescendants(of node: NodeID) -> [String] {
        var result: [(id: String, depth: Int)] = []
        var stack: [(NodeID, Int)] = (tree.children[node] ?? []).map { (.span($0), 1) }
        while let (current, depth) = stack.popLast() {
            guard case .span(let id) = current else { continue }
            if tree.spans[id]?.span.phase == .active, !isRemote(current) {
                result.append((id, depth))
            }
            stack += (tree.children[current] ?? []).map { (.span($0), depth + 1) }
        }
        return result.sorted { ($0.depth, $0.id) > ($1.depth, $1.id) }.map(\.id)
    }

    private mutating func mutating(_ character: Character) -> [Effect] {
        if readonly { return refuse("Read-only mode: \(character) is disabled") }
        if character == "n" {
            message = Self.registeringMessage
            return [.newInstance]
        }
        guard let selection else { return refuse("Nothing selected") }
        if character != "T", isRemote(selection) {
            return refuse("This run belongs to another process: it is read-only here (T terminates it)")
        }
        switch (character, selection) {
        case ("a", .instance(let id)):
            guard let instance = tree.instances[id], !instance.status.isTerminalForSpans else {
                return refuse("Instance \(id) is finished; press n for a new one")
            }
            prompt = Prompt(label: "New span type", placeholder: Self.defaultSchemaName, instanceID: id, parentSpanID: nil)
        case ("a", .span(let id)):
            guard let span = tree.spans[id]?.span else { return [] }
            prompt = Prompt(
                label: "New span type", placeholder: Self.defaultSchemaName, instanceID: span.instanceID, parentSpanID: id)
        case ("s", .span(let id)):
            guard tree.spans[id]?.span.phase == .prepared else { return refuse("Only a prepared span (◌) can be started") }
            // Starting a span starts its prepared ancestors first: say so.
            var parents: [String] = []
            var parent = tree.spans[id]?.span.parentID.flatMap { tree.knownSpan($0) }
            while let current = parent, let node = tree.spans[current], node.span.phase == .prepared {
                parents.append(node.span.schemaName)
                parent = node.span.parentID.flatMap { tree.knownSpan($0) }
            }
            if !parents.isEmpty {
                message = Message(
                    text: "Starting it starts its prepared parent(s) too: " + parents.joined(separator: ", "), isError: false)
            }
            return [.startSpan(id)]
        case ("s", .instance):
            return refuse("s starts a prepared span; select one")
        case ("f", .span(let id)):
            guard tree.spans[id]?.span.phase == .active else { return refuse("Only a running span can be finished") }
            return finish(.span(id), .finishSpan(id, .complete), question: nil)
        case ("f", .instance(let id)):
            guard let instance = tree.instances[id], !instance.instance.phase.isFinished else {
                return refuse("Instance is already finished")
            }
            return finish(.instance(id), .finishInstance(id, .complete), question: nil)
        case ("x", .span(let id)):
            guard tree.spans[id]?.span.phase == .active else { return refuse("Only a running span can be failed") }
            return finish(
                .span(id), .finishSpan(id, .failed), question: "Fail span \(tree.spans[id]?.span.schemaName ?? id)? (y/n)")
        case ("x", .instance(let id)):
            guard let instance = tree.instances[id], !instance.instance.phase.isFinished else {
                return refuse("Instance is already finished")
            }
            return finish(.instance(id), .finishInstance(id, .failed), question: "Fail instance \(id)? (y/n)")
        case ("c", .span(let id)):
            guard let phase = tree.spans[id]?.span.phase else { return [] }
            switch phase {
            case .prepared:
                return ask("Cancel span \(tree.spans[id]?.span.schemaName ?? id) before it starts? (y/n)", .cancelUnstarted(id))
            case .active:
                return finish(
                    .span(id), .finishSpan(id, .cancelled),
                    question: "Cancel span \(tree.spans[id]?.span.schemaName ?? id)? (y/n)")
            default: return refuse("Span is already finished")
            }
        case ("c", .instance(let id)):
            guard let instance = tree.instances[id], !instance.instance.phase.isFinished else {
                return refuse("Instance is already finished")
            }
            return finish(.instance(id), .finishInstance(id, .cancelled), question: "Cancel instance \(id)? (y/n)")
        case ("T", let node):
            guard let id = tree.instanceID(of: node), let instance = tree.instances[id] else { return [] }
            guard !instance.instance.phase.isFinished else { return refuse("Instance is already finished") }
            return ask("Terminate instance \(id) on the server? (y/n)", .terminateInstance(id))
        default:
            break
        }
        return []
    }

    private mutating func handlePrompt(_ key: Key) -> [Effect] {
        guard var prompt else { return [] }
        switch key {
        case .escape:
            self.prompt = nil
            message = Message(text: "Cancelled", isError: false)
        case .enter:
            self.prompt = nil
            let name = prompt.value
            guard !name.isEmpty else { return refuse("A span needs a type name") }
            promptHistory.removeAll { $0 == name }
            promptHistory.append(name)
            if promptHistory.count > 50 { promptHistory.removeFirst(promptHistory.count - 50) }
            return [.addSpan(instanceID: prompt.instanceID, parentSpanID: prompt.parentSpanID, schemaName: name)]
        case .up:
            // Older entries of the history; the newest first.
            guard !promptHistory.isEmpty else { break }
            let index = max(0, (prompt.historyIndex ?? promptHistory.count) - 1)
            prompt.recall(promptHistory[index], index: index)
            self.prompt = prompt
        case .down:
            guard let index = prompt.historyIndex else { break }
            if index + 1 < promptHistory.count {
                prompt.recall(promptHistory[index + 1], index: index + 1)
            } else {
                prompt.recall(nil, index: nil)
            }
            self.prompt = prompt
        default:
            if prompt.edit(key) { self.prompt = prompt }
        }
        return []
    }

    private mutating func handleFilter(_ key: Key) -> [Effect] {
        switch key {
        case .escape:
            filterEditing = false
            filter = ""
        case .enter:
            filterEditing = false
        case .backspace:
            if !filter.isEmpty { filter.removeLast() }
        case .control("u"):
            filter = ""
        case .character(let character) where !character.isNewline:
            filter.append(character)
        default:
            break
        }
        return []
    }
}

extension InstanceNode {
    /// Whether spans can no longer be added (the instance finished or was terminated).
    var isTerminalForSpans: Bool { instance.phase.isFinished }
}

extension Key {
    /// Keys that act on the selection or the tree as a whole (not movement): they work in every pane.
    var isAction: Bool {
        guard case .character(let character) = self else { return false }
        return "nasfxcTp-=".contains(character)
    }
}

extension DisplayStatus {
    var isTerminalForSpans: Bool { self == .complete || self == .failed || self == .cancelled || self == .terminated }
}
