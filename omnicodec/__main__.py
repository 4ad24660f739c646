import sys

from omnicodec.cli.main import main

sys.exit(main())
