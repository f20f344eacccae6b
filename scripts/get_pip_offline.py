# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip.py that ansible-test downloads before each venv it makes.

scripts/setup.sh copies this file to ~/.ansible/test/cache/get_pip_<pip version>.py, where
ansible-test looks before downloading. ansible-test runs it (through its quiet_pip.py wrapper)
inside a venv created without pip, as ``get-pip.py [pip options] pip==X [--no-setuptools]
[--no-wheel]``. We bootstrap the pip wheel bundled with CPython (ensurepip, no network) and
then let that pip install the exact pip ansible-test asked for from the configured index.
"""
import subprocess
import sys

# get-pip.py-only switches that pip itself does not understand.
GET_PIP_ONLY = {'--no-setuptools', '--no-wheel', '--no-pip'}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--upgrade', '--quiet'] + args)


if __name__ == '__main__':
    main()
