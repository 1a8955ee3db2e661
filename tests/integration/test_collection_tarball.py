# -*- coding: utf-8 -*-
"""The collection as its users get it: the tarball ansible-galaxy builds holds what they need and no more, installs,
and its playbook runs by its FQCN from the installed copy alone."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

from tests.integration.role.support import config, host_vars, promote_vars, summary, write_inventory
from tests.integration.support import run_playbook

ROOT = Path(__file__).resolve().parents[2]
GALAXY = str(Path(sys.executable).parent / 'ansible-galaxy')
NEEDED = ('LICENSE', 'README.md', 'requirements.txt', 'meta/runtime.yml', 'meta/execution-environment.yml',
          'plugins/modules/promotion_run.py', 'plugins/action/promotion_run.py', 'plugins/plugin_utils/_action.py',
          'plugins/filter/promotion_plan.py', 'roles/promote/README.md', 'roles/promote/meta/argument_specs.yml',
          'playbooks/promote.yml')
NOT_FOR_USERS = ('Makefile', 'benchmarks/', '.venv/', 'build/', '.pytest_cache/', 'tests/output/', 'demo-output/', '.ci/',
                 '.ansible-lint', '.gitignore')


def test_the_tarball_installs_and_promotes_by_its_fqcn(simulator, tmp_path):
    built = subprocess.run([GALAXY, 'collection', 'build', str(ROOT), '--output-path', str(tmp_path)], capture_output=True,
                           text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = tmp_path / 'idcloud-promotions-0.1.0.tar.gz'
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert all(name in names for name in NEEDED), sorted(set(NEEDED) - set(names))
    assert not [name for name in names if name.startswith(NOT_FOR_USERS) or '__pycache__' in name]

    installed = tmp_path / 'collections'
    done = subprocess.run([GALAXY, 'collection', 'install', '--force', str(tarball), '-p', str(installed)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (installed / 'ansible_collections' / 'idcloud' / 'promotions' / 'MANIFEST.json').exists()

    sim, tenant = simulator, 'tenant14'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Installed')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t14-staging': host_vars(sim, tenant, 'staging')})
    # Only the installed copy: no checkout on the collections path or the Python path.
    result = run_playbook('idcloud.promotions.promote', tmp_path / 'run', inventory=inventory, extra_vars=promote_vars(tmp_path),
                          env={'ANSIBLE_COLLECTIONS_PATH': str(installed), 'PYTHONPATH': ''}, verbosity=2)
    assert result.rc == 0, result.output()
    assert summary(tmp_path)['t14-staging']['outcome'] == 'promoted'
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    # The role's tasks came from the installed copy.
    assert 'task path: %s/ansible_collections/idcloud/promotions/roles/promote/tasks/main.yml' % installed in result.stdout
