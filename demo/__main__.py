"""``python -m demo``: the embedded demo (see ``demo.presentation``)."""

import sys

from demo.presentation import main

sys.exit(main())
