"""Role URIs for test launches and the kinds of broken launch the simulated platform mints."""

from __future__ import annotations

import enum

__all__ = ["INSTRUCTOR", "LEARNER", "BadLaunch"]

#: The context Instructor role URI.
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
#: The context Learner role URI.
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


class BadLaunch(enum.Enum):
    """Deliberately broken launches; each must be rejected by a correct tool."""

    EXPIRED = "expired"
    ISSUED_IN_FUTURE = "issued_in_future"
    TOO_OLD = "too_old"
    IAT_AFTER_EXP = "iat_after_exp"
    NON_NUMERIC_EXP = "non_numeric_exp"
    NOT_BEFORE_IN_FUTURE = "not_before_in_future"
    NO_KID = "no_kid"
    WRONG_KID = "wrong_kid"
    ALG_NONE = "alg_none"
    ALG_HS256 = "alg_hs256"
    ALG_RS512 = "alg_rs512"
    WRONG_KEY = "wrong_key"
    TAMPERED = "tampered"
    GARBAGE = "garbage"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    EXTRA_AUDIENCE = "extra_audience"
    MULTIPLE_AUDIENCES_NO_AZP = "multiple_audiences_no_azp"
    WRONG_AZP = "wrong_azp"
    NO_NONCE = "no_nonce"
    WRONG_NONCE = "wrong_nonce"
    WRONG_VERSION = "wrong_version"
    NO_VERSION = "no_version"
    NO_MESSAGE_TYPE = "no_message_type"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    NO_ROLES = "no_roles"
    NO_DEPLOYMENT_ID = "no_deployment_id"
    UNKNOWN_DEPLOYMENT = "unknown_deployment"
    NO_RESOURCE_LINK_ID = "no_resource_link_id"
    NO_RESOURCE_LINK = "no_resource_link"
    NO_SUB = "no_sub"
    WRONG_TARGET_LINK_URI = "wrong_target_link_uri"
    MISSING_LTI_CLAIMS = "missing_lti_claims"
