from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ictg_common.inputs import IsoDateTime

from ..types import CLIENT_TIME, RecordOut, Strict

WHEREABOUTS = "True when the child's whereabouts are known (absent: SSDA903 `A`); false when unknown (missing: `M`)."
POLICE = "The child was reported to the police as missing."
CARE_MEETING = "A missing-from-care meeting was held about the episode (as the guardian records it)."
NETWORK_MEETING = "A professional network meeting was held about the episode (as the guardian records it)."
INTERVIEW = "The child was offered a return interview."


class EpisodeCreate(Strict):
    started_at: IsoDateTime = Field(
        description=f"When the child went missing: {CLIENT_TIME} Not while another episode is open or overlapping one."
    )
    whereabouts_known: bool = Field(default=False, description=WHEREABOUTS + " Default false.")
    reported_to_police: bool = Field(description=POLICE)
    missing_from_care_meeting: bool = Field(description=CARE_MEETING)
    professional_network_meeting: bool = Field(description=NETWORK_MEETING)


class EpisodeReturn(Strict):
    ended_at: IsoDateTime = Field(
        description=f"When the child came back: {CLIENT_TIME} Not before the episode started."
    )
    return_interview_offered: bool = Field(description=INTERVIEW)


class Episode(RecordOut):
    recorded_by: str = Field(
        description="Who wrote it: the `sub` of their token, or `referral` for an episode opened with the case. "
        "Not shown to councils."
    )
    started_at: datetime = Field(
        description="When the child went missing (RFC 3339); the referral's `received_at` for an episode open "
        "at referral."
    )
    ended_at: datetime | None = Field(
        description="When the child came back (RFC 3339); null while the child is missing (for a council, also when "
        "the return fell outside its periods)."
    )
    at_referral: bool = Field(
        description="True for the episode the case opened with because the referral said the child was missing."
    )
    whereabouts_known: bool = Field(description=WHEREABOUTS)
    reported_to_police: bool = Field(description=POLICE + " False on an episode opened at referral.")
    missing_from_care_meeting: bool = Field(description=CARE_MEETING + " False on an episode opened at referral.")
    professional_network_meeting: bool = Field(description=NETWORK_MEETING + " False on an episode opened at referral.")
    return_interview_offered: bool | None = Field(
        description=INTERVIEW
        + " Null until the return is recorded (for a council, also when it fell outside its periods)."
    )
