"""Which servers a drill backs up and where each backup lives: a region on its own server is backed up
alone into its own location; a region that shares a server is named in a note, and refused when it was given
a backup location of its own (its data would be copied elsewhere); a location for no known scope is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.dr_plan import plan
from core.settings import Settings

CONTROL = "postgresql://postgres:pw@127.0.0.1:5432/aiaas"
EU = "postgresql://postgres:pw@127.0.0.1:6543/aiaas"


def _settings(tmp_path: Path, **update: object) -> Settings:
    base = Settings().model_copy(
        update={
            "database_url": CONTROL,
            "data_dir": tmp_path,
            "region_database_urls": {"eu-west": EU, "us-east": "aiaas_us_east", "ap-southeast": "aiaas_ap"},
        }
    )
    return base.model_copy(update=update)


def test_servers_and_their_backup_locations(tmp_path: Path) -> None:
    eu_dir = tmp_path / "eu-backups"
    found = plan(_settings(tmp_path, dr_backup_dirs={"eu-west": eu_dir})).servers
    assert [(s.name, s.scopes, s.location) for s in found] == [
        ("global", ["global", "ap-southeast", "us-east"], str(tmp_path.resolve() / "dr")),
        ("eu-west", ["eu-west"], str(eu_dir.resolve())),
    ]
    assert [n.split(":")[0] for n in found[0].notes] == ["ap-southeast", "us-east"]
    assert found[1].notes == [] and not any(s.refusals for s in found)


def test_a_shared_region_with_a_location_of_its_own_is_refused(tmp_path: Path) -> None:
    found = plan(_settings(tmp_path, dr_backup_dirs={"us-east": tmp_path / "us"})).servers
    assert found[0].scopes == ["global", "ap-southeast"]
    assert [r.split(":")[0] for r in found[0].refusals] == ["us-east"]
    # The default location of a region of its own server is under the data dir, per region.
    assert found[1].location == str(tmp_path.resolve() / "dr" / "regions" / "eu-west")


def test_a_location_for_an_unknown_scope_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="moon-base"):
        plan(_settings(tmp_path, dr_backup_dirs={"moon-base": tmp_path}))
