"""``python -m asgiws module:attr``: the same as the ``asgiws`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
