import sys

from .cli.main import main

# guarded: a spawned process (analyze --workers 2 where fork is not used) imports this
# module as its main module, and must not run the command again
if __name__ == "__main__":
    sys.exit(main())
