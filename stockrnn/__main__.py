from stockrnn.entry import main

main()
