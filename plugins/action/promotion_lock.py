# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs promotion_lock in Ansible's worker process when the task runs on the controller (the documentation is in the module)."""

from __future__ import annotations

from ansible_collections.idcloud.promotions.plugins.modules.promotion_lock import TASK
from ansible_collections.idcloud.promotions.plugins.plugin_utils._action import PromotionAction


class ActionModule(PromotionAction):
    MODULE = 'promotion_lock'
    TASK = TASK
