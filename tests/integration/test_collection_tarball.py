# -*- coding: utf-8 -*-
"""The collection as its users get it: the tarball ansible-galaxy builds holds what they need and no more, installs,
its playbook runs by its FQCN from the installed copy alone, and ansible-builder finds every Python library its
plugins import (what an execution environment gets)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from tests.integration.role.support import config, host_vars, promote_vars, summary, write_inventory
from tests.integration.support import run_playbook

ROOT = Path(__file__).resolve().parents[2]
GALAXY = str(Path(sys.executable).parent / 'ansible-galaxy')
BUILDER = str(Path(sys.executable).parent / 'ansible-builder')
# Import names of libraries whose package names differ.
PACKAGE_OF = {'yaml': 'pyyaml'}
NEEDED = ('LICENSE', 'README.md', 'requirements.txt', 'meta/runtime.yml', 'meta/execution-environment.yml',
          'plugins/modules/promotion_run.py', 'plugins/action/promotion_run.py', 'plugins/plugin_utils/_action.py',
          'plugins/filter/promotion_plan.py', 'roles/promote/README.md', 'roles/promote/meta/argument_specs.yml',
          'playbooks/promote.yml')
NOT_FOR_USERS = ('Makefile', 'benchmarks/', '.venv/', 'build/', '.pytest_cache/', 'tests/output/', 'demo-output/', '.ci/',
                 '.ansible-lint', '.gitignore', 'changelogs/.plugin-cache.yaml', '.hypothesis/')
# What a developer's working tree holds besides the files git knows, none of which users need.
WORKING_TREE_LEFTOVERS = ('.venv/bin/python', 'build/collections/x', 'demo-output/inventory.yml', 'tests/output/x',
                          '.pytest_cache/v/cache/lastfailed', 'tests/unit/.pytest_cache/v/cache/lastfailed', '.hypothesis/constants/x',
                          'plugins/modules/__pycache__/promotion_run.cpython-311.pyc', 'idcloud-promotions-0.0.9.tar.gz')


def working_tree(path):
    """A copy of the checkout's files, with a developer's leftovers beside them."""
    listed = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
    for name in filter(None, listed):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    for name in WORKING_TREE_LEFTOVERS:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text('leftover')
    return path


def build_tarball(source, output):
    """ansible-galaxy collection build of ``source`` into ``output``; the tarball's path."""
    built = subprocess.run([GALAXY, 'collection', 'build', str(source), '--output-path', str(output)], capture_output=True,
                           text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    return output / 'idcloud-promotions-0.1.0.tar.gz'


def third_party_imports(tree):
    """The libraries the plugins under ``tree`` import that neither Python nor Ansible brings."""
    names = set()
    for path in tree.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split('.')[0])
    return {PACKAGE_OF.get(name, name) for name in names
            if name not in sys.stdlib_module_names and name not in ('ansible', 'ansible_collections', '__future__')}


def test_the_tarball_installs_and_promotes_by_its_fqcn(simulator, tmp_path):
    tarball = build_tarball(working_tree(tmp_path / 'checkout'), tmp_path)
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert all(name in names for name in NEEDED), sorted(set(NEEDED) - set(names))
    assert not [name for name in names if name.startswith(NOT_FOR_USERS) or '__pycache__' in name or '.pytest_cache' in name
                or name.endswith('.tar.gz')]

    installed = tmp_path / 'collections'
    done = subprocess.run([GALAXY, 'collection', 'install', '--force', str(tarball), '-p', str(installed)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    collection = installed / 'ansible_collections' / 'idcloud' / 'promotions'
    assert (collection / 'MANIFEST.json').exists()

    introspected = subprocess.run([BUILDER, 'introspect', str(installed)], capture_output=True, text=True, check=False)
    assert introspected.returncode == 0, introspected.stdout + introspected.stderr
    declared = {line.strip(" -'").split('>=')[0].split()[0] for line in introspected.stdout.splitlines()
                if 'from collection idcloud.promotions' in line}
    imported = third_party_imports(collection / 'plugins')
    assert {'requests', 'cryptography'} <= imported <= declared, (imported, introspected.stdout)

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


def test_the_execution_environment_sample_makes_a_build_context(tmp_path):
    """docs/ee as make ee uses it where no container runtime answers: ansible-builder 3 accepts the sample and writes a
    context in which the collection's tarball is copied to the path its requirements.yml installs from."""
    sample = tmp_path / 'ee'
    shutil.copytree(ROOT / 'docs' / 'ee', sample)
    build_tarball(ROOT, sample)
    context = tmp_path / 'context'
    created = subprocess.run([BUILDER, 'create', '-f', str(sample / 'execution-environment.yml'), '-c', str(context)],
                             capture_output=True, text=True, check=False)
    assert created.returncode == 0, created.stdout + created.stderr

    tarball = context / '_build' / 'collections' / 'idcloud-promotions-0.1.0.tar.gz'
    assert tarball.is_file()
    wanted = yaml.safe_load((context / '_build' / 'requirements.yml').read_text(encoding='utf-8'))['collections']
    assert wanted == [{'name': '/tmp/collections/%s' % tarball.name, 'type': 'file'}]
    steps = next(path for path in (context / 'Containerfile', context / 'Dockerfile') if path.exists()).read_text(encoding='utf-8')
    copied = steps.index('COPY _build/collections/ /tmp/collections/')
    assert copied < steps.index('ansible-galaxy collection install')
