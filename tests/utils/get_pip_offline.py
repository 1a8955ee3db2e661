# -*- coding: utf-8 -*-
"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip into its sanity
virtual environments. That download comes from a host outside the package index, which test
machines cannot reach; this installs pip with the standard library's ensurepip instead, then
the exact pip version ansible-test asks for from the package index. The Makefile puts it in
ansible-test's cache under the name ansible-test looks for."""

from __future__ import annotations

import ensurepip
import os
import ssl
import subprocess
import sys

# get-pip.py options that a plain `pip install` does not know.
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def system_ca_bundle():
    """ansible-test runs pip without any pip configuration; the bootstrap pip then only trusts its own
    bundle, so point it at the system's, which is what the machine's package index access relies on."""
    candidates = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', ssl.get_default_verify_paths().cafile)
    return next((path for path in candidates if path and os.path.exists(path)), None)


def main():
    ensurepip.bootstrap(upgrade=True)
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
    bundle = system_ca_bundle()
    if bundle:
        arguments = ['--cert', bundle] + arguments
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + arguments)


if __name__ == '__main__':
    main()
