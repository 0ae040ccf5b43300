"""Copywriter background work, run by Celery (in-process when no broker is configured).

Tasks are acknowledged late (settings.CELERY_TASK_ACKS_LATE), so a chunk whose worker died is delivered
again; copy_job_run_chunk only generates the chunk's pending items, so the redelivery resumes the chunk."""
from celery import shared_task

from copywriter.services import copy_job_run_chunk


@shared_task(name="copywriter.tasks.run_copy_chunk")
def run_copy_chunk(job_id: int, chunk: int) -> int:
    """Generate one chunk of a copy job; returns the number of drafts written."""
    return copy_job_run_chunk(job_id=job_id, chunk=chunk)
