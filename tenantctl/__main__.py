"""``python -m tenantctl``: the same CLI as the ``tenantctl`` console script."""

from tenantctl.cli import main

if __name__ == "__main__":
    main()
