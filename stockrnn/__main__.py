from stockrnn.cli.entry import main

if __name__ == "__main__":  # only as `python -m stockrnn`, never on an import
    main()
