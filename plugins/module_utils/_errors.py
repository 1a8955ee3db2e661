# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

What goes wrong, as one exception family: modules catch PromotionError once.
"""

from __future__ import annotations

from typing import Any

# Proxies and gateways in front of a tenant answer these while the tenant is fine.
TRANSIENT_STATUSES = (429, 502, 503, 504)


class PromotionError(Exception):
    """A failure that a module reports as its task's failure: ``message`` says what happened and what to do next,
    ``result`` holds the fields returned with it (the lock held, the status seen, ...)."""

    def __init__(self, message: str, result: dict[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.result = dict(result or {}, **fields)

    def __str__(self) -> str:
        return self.message


class ConfigurationError(PromotionError):
    """The options given cannot work (bad key, bad URL, a file that cannot be written); nothing was sent."""


class PromotionsApiError(PromotionError):
    """One failure of a call to the tenant, with what is needed to act on it and to quote it to support."""

    def __init__(self, message: str, status: int | None = None, code: int | str | None = None, reason: str | None = None,
                 method: str | None = None, path: str | None = None, transaction_id: str | None = None,
                 body: dict[str, Any] | list[Any] | None = None, transport_error: bool = False, retry_after: float | None = None,
                 missing_scope: str | bool | None = None) -> None:
        Exception.__init__(self, message)  # pylint: disable=non-parent-init-called
        self.message = message
        self.status = status
        self.code = code
        self.reason = reason
        self.method = method
        self.path = path
        self.transaction_id = transaction_id
        self.body = body
        # True when no answer came back at all, so a write may or may not have happened.
        self.transport_error = transport_error
        # Seconds the tenant asked to wait (Retry-After), when it said.
        self.retry_after = retry_after
        # The scope this request lacked, when the failure says so (a 403, an invalid_scope of the token endpoint).
        self.missing_scope = missing_scope

    @property
    def refused(self) -> bool:
        """The tenant (or a proxy) turned the request away before doing anything with it."""
        return self.status in (429, 503)

    @property
    def transient(self) -> bool:
        """Worth another try later: no answer, a truncated one, or a busy tenant or proxy. A write
        that failed so may still have been carried out, so the caller re-reads before sending it again."""
        return self.transport_error or self.status in TRANSIENT_STATUSES

    @property
    def result(self) -> dict[str, Any]:
        """The fields a failed task returns: the error as the tenant gave it, and the scope it lacked."""
        fields: dict[str, Any] = dict(error=self.to_dict())
        if self.missing_scope:
            fields['missing_scope'] = self.missing_scope
        return fields

    def to_dict(self) -> dict[str, Any]:
        return dict(
            status=self.status, code=self.code, reason=self.reason, message=self.message,
            method=self.method, path=self.path, transaction_id=self.transaction_id,
        )

    def __str__(self) -> str:
        where = '%s %s' % (self.method, self.path) if self.method else 'the request'
        if self.status:
            text = '%s answered HTTP %s: %s' % (where, self.status, self.message)
        else:
            text = '%s failed: %s' % (where, self.message)
        if self.transaction_id:
            text += ' (transaction id %s)' % self.transaction_id
        return text
