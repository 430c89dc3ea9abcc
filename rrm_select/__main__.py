import sys

from rrm_select.filter.cli import main

if __name__ == "__main__":
    sys.exit(main())
