import sys

from vaecourse.cli import main

sys.exit(main())
