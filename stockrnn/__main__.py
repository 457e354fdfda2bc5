from stockrnn.cli.entry import main

main()
