"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs its cached get-pip script inside each fresh sanity virtualenv as
``python get_pip.py --disable-pip-version-check pip==X --no-setuptools --no-wheel``. This script installs the
same pinned packages from PyPI after bootstrapping pip from the interpreter's own ensurepip.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel", "--no-pip"}

# In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which would hide the
# machine's pip configuration (index, certificates) from the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
arguments = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *arguments]))
