"""``python -m outreach``: the same as the ``outreach`` command."""

from outreach.cli import main

if __name__ == "__main__":  # a spawned worker process imports this module too
    main()
