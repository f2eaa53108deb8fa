"""Logout: the session's uploads that nothing else keeps go at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagestore.data.expiry import ExpiryStore
from imagestore.models.files import FileStatus
from imagestore.observability import logger


@dataclass
class LogoutReport:
    files_removed: int = 0
    files_kept: int = 0  # held (also: a hold landed first when a save raced with the logout)
    left_for_next_run: int = 0  # marked and due now: the next sweep finishes them

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)


def end_session(expiry: ExpiryStore, tenant_id: str, user_id: str, session_id: str, now: int) -> LogoutReport:
    """End the session retention of the session's uploads: those nothing holds are removed at once,
    held ones live as long as their holders (extended mobile uploads are not touched). One Query page
    of the user's partition at a time; repeating it is harmless."""
    report = LogoutReport()
    start: dict[str, Any] | None = None
    while True:
        records, start = expiry.session_files(tenant_id, user_id, session_id, now, start=start)
        marked = []
        for record in records:
            if record.status is FileStatus.DELETING or (
                record.hold_count == 0 and expiry.mark_logged_out(record, session_id, now)
            ):
                marked.append(record)
            else:
                # Held (or a hold landed since the Query): it stays while held, and not longer.
                expiry.end_session_retention(record, session_id, now)
                report.files_kept += 1
        removal = expiry.remove_files(marked)
        report.files_removed += len(removal.removed)
        report.left_for_next_run += len(removal.failed)
        if start is None:
            break
    logger.info("session ended", tenant_id=tenant_id, user_id=user_id, session_id=session_id, **report.dump())
    return report
