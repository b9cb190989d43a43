extension TUIConfig {
    /// A complete, commented config file with every setting at its default (and two example prices): what
    /// `prefactor config example` prints and `docs/config.example.yml` holds.
    public static let exampleText = #"""
        # prefactor terminal UI config: $XDG_CONFIG_HOME/prefactor/config.yml
        # (~/.config/prefactor/config.yml; $PREFACTOR_CONFIG or --config FILE name another file).
        # Every setting is optional: what is left out keeps its default. Check the file with
        # `prefactor config check`. Command-line flags and NO_COLOR win over the file.

        theme:
          ascii: false          # true: ASCII glyphs instead of Unicode (as --ascii)
          color: true           # false: monochrome (as --no-color or NO_COLOR)
          colors:               # default, black, red, green, yellow, blue, magenta, cyan, white
            pending: default
            active: cyan
            complete: green
            failed: red
            cancelled: yellow
            terminated: magenta
            accent: blue        # titles, headers, key hints
            warning: yellow
            error: red
            good: green

        # Key bindings, as lazygit writes them: one key or a list. A key is one character
        # ("?" and "-" need quotes), <name> for <up> <down> <left> <right> <pgup> <pgdown>
        # <home> <end> <enter> <esc> <tab> <backtab> <backspace> <delete> <space>, or <c-x> for
        # Ctrl and a letter. "<disabled>" unbinds an action. A key may do only one thing:
        # give an action a key another action has, and free it there too.
        # `prefactor config keys` lists every action with its keys.
        keys:
          move-up: [<up>, k]
          move-down: [<down>, j]
          page-up: <pgup>
          page-down: <pgdown>
          top: [<home>, g]
          bottom: [<end>, G]
          collapse: [<left>, h]
          expand: [<right>, l]
          toggle: <space>
          open: <enter>
          collapse-all: "-"
          expand-all: "="
          next-pane: <tab>
          previous-pane: <backtab>
          filter: /
          back: <esc>
          errors-only: e
          follow: F
          new-run: n
          add-span: a
          start: s
          finish: f
          fail: x
          cancel: c
          terminate: T
          pause-demo: p
          poll-interval: W
          queue-files: O
          to-span: t
          retry-now: r
          discard: d
          take-over: D
          copy: "y"
          export: E
          timeline: w
          zoom-in: i
          zoom-out: o
          pan-left: <
          pan-right: ">"
          fit: "0"
          sort: S
          status-filter: v
          next-match: "]"
          previous-match: "["
          freeze: Z
          help: "?"
          quit: q

        mouse: true             # click selects, click on ▸/▾ folds, the wheel scrolls (as --no-mouse when false)
        poll-interval: 1        # seconds between polls of the API when watching (0.1-3600)
        age-out: 15             # minutes before finished runs of other processes leave the view
        # export-directory: ~/prefactor-exports   # where E writes runs (default: the current directory)

        # LLM prices per million tokens, by model name as agents record it. None are built in:
        # a model without a price shows its tokens but no cost. The prices below are examples only.
        prices:
          example-model:
            input-per-million: 1.00
            output-per-million: 2.00
          another-model:
            input-per-million: 0.15
            output-per-million: 0.60

        """#
}
