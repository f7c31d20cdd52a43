"""What every format model shares: strictness, `x-` extensions, id patterns, error paths."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tanji.errors import DataError, DataErrors, format_path
from tanji.methodology import units
from tanji.methodology.slots import StageName

ORG_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RESERVED_ORG_IDS = frozenset({"coordinator", "keyholder"})


class FieldRule(ValueError):
    """A cross-field rule broken inside a record; `field` is appended to the error's path."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _org_id(value: str) -> str:
    if not ORG_ID_RE.match(value):
        raise ValueError(f"{value!r} is not an organisation id (lowercase letters, digits, '.', '_', '-'; at most 63)")
    if value in RESERVED_ORG_IDS:
        raise ValueError(f"{value!r} is a reserved id")
    return value


def _item_id(value: str) -> str:
    if not ITEM_ID_RE.match(value):
        raise ValueError(f"{value!r} is not a valid id (letters, digits, '.', '_', '-'; no '/'; at most 128)")
    return value


def _unit(value: str) -> str:
    if value not in units.UNITS:
        raise ValueError(f"unknown unit {value!r}; allowed: {', '.join(units.UNITS)}")
    return value


OrgId = Annotated[str, AfterValidator(_org_id)]
ItemId = Annotated[str, AfterValidator(_item_id)]
Unit = Annotated[str, AfterValidator(_unit)]
Stage = StageName
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
DQR = Annotated[float, Field(ge=1, le=5)]


def require_dimension(field: str, unit: str, expected: str) -> None:
    """FieldRule unless `unit` has the same dimension as `expected`."""
    if not units.same_dimension(unit, expected):
        raise FieldRule(field, f"{unit!r} is a unit of {units.dimension(unit)}, expected {units.dimension(expected)}")


class Record(BaseModel):
    """Strict record: unknown fields refused, `x-` fields kept apart and ignored."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    extensions: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _split_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "extensions" in data:
                # 'extensions' is our internal name, never a file field
                data = dict(data)
                data["__extensions_is_not_a_field__"] = data.pop("extensions")
            ext = {k: v for k, v in data.items() if isinstance(k, str) and k.startswith("x-")}
            if ext:
                data = {k: v for k, v in data.items() if k not in ext}
                data["extensions"] = ext
        return data


#: union tags pydantic puts into error locations; they are not part of a JSON path
_UNION_TAG_PARENTS = {"activities"}


def _clean_loc(loc: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for i, part in enumerate(loc):
        if part == "__extensions_is_not_a_field__":
            out.append("extensions")
            continue
        # discriminated-union tag: activities[3].electricity.amount -> activities[3].amount
        if (isinstance(part, str) and i >= 2 and isinstance(loc[i - 1], int)
                and loc[i - 2] in _UNION_TAG_PARENTS):
            continue
        out.append(part)
    return out


#: a refusal quotes the offending value, cut to a readable length (a value may be a megabyte)
MAX_MESSAGE_CHARS = 300


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text)} characters)"


def errors_from_validation(exc: ValidationError, file: str) -> DataErrors:
    """Turn pydantic's errors into DataErrors that name file, JSON path and what is wrong."""
    found: list[DataError] = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]))
        msg = err["msg"]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, FieldRule):
            loc.append(ctx_error.field)
            msg = str(ctx_error)
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")
        elif err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r} (only fields of FORMATS.md, or names starting with 'x-')"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if (err["type"] not in ("extra_forbidden", "missing") and "input" in err
                and not isinstance(err["input"], (dict, list)) and repr(err["input"]) not in msg):
            msg = f"{msg} (got {clip(repr(err['input']), 80)})"
        found.append(DataError(file, format_path(loc), clip(msg, MAX_MESSAGE_CHARS)))
    return DataErrors(found)
