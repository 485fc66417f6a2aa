"""`python -m vlmcli` is the same as `vlm`."""

from vlmcli.cli import main

if __name__ == "__main__":
    main()
