from stockrnn.cli import main

main()
