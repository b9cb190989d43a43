import PrefactorCommands

await PrefactorMain.main()
