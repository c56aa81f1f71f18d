from __future__ import annotations

from datetime import datetime

from ictg_common.inputs import IsoDateTime

from ..types import RecordOut, Strict


class EpisodeCreate(Strict):
    started_at: IsoDateTime
    whereabouts_known: bool = False
    reported_to_police: bool
    missing_from_care_meeting: bool
    professional_network_meeting: bool


class EpisodeReturn(Strict):
    ended_at: IsoDateTime
    return_interview_offered: bool


class Episode(RecordOut):
    started_at: datetime
    ended_at: datetime | None
    at_referral: bool
    whereabouts_known: bool
    reported_to_police: bool
    missing_from_care_meeting: bool
    professional_network_meeting: bool
    return_interview_offered: bool | None
