"""`python -m vlmcli.families --markdown`: print README's coverage table from the registry."""

import sys

from vlmcli.families.coverage import readme_block

if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m vlmcli.families --markdown")
    print(readme_block())
