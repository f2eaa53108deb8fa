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
    files_kept: int = 0  # a hold landed first (a save raced with the logout): the file stays
    left_for_next_run: int = 0  # marked and due now: the next sweep finishes them

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)


def end_session(expiry: ExpiryStore, tenant_id: str, user_id: str, session_id: str, now: int) -> LogoutReport:
    """Remove the session-retention files of the session that nothing holds (extended mobile uploads
    and held files stay). One Query page of the user's partition at a time; repeating it is harmless."""
    report = LogoutReport()
    start: dict[str, Any] | None = None
    while True:
        records, start = expiry.session_files(tenant_id, user_id, session_id, start=start)
        marked = []
        for record in records:
            if record.status is FileStatus.DELETING or expiry.mark_logged_out(record, session_id, now):
                marked.append(record)
            else:
                report.files_kept += 1
        removal = expiry.remove_files(marked)
        report.files_removed += len(removal.removed)
        report.left_for_next_run += len(removal.failed)
        if start is None:
            break
    logger.info("session ended", tenant_id=tenant_id, user_id=user_id, session_id=session_id, **report.dump())
    return report
