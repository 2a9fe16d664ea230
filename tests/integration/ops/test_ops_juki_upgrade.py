"""A deployment made before the 住基ネット split, brought up to date as `renkei/README.md`
("Upgrading across the 住基ネット split") says, against RabbitMQ and PostgreSQL: its state
directory has no `juki-*` folders and its broker no `juki-*` users; `renkei init` writes those
and nothing else (every key and secret kept), `broker setup` makes the users, and J-LIS, run
from the upgraded directory, answers a register over 住基ネット."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from proc_env import _ADMIN, cli, deployed, start, stop

from agencies.municipality.juki import JukiLink
from hub.bus import connect_amqp, delete_users
from hub.bus.juki import JUKI_PREFIX, juki_identity
from hub.node import OfficeError
from hub.wire import Facts
from renkei.secrets import State
from renkei.settings import Settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
CHIYODA = "chiyoda-resident"


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_init_and_broker_setup_bring_a_state_of_before_the_split_back_whole(
    tmp_path: Path,
) -> None:
    async with deployed(tmp_path) as env:
        root = Path(env["RENKEI_STATE_DIR"])
        prefix = env["RENKEI_BROKER_USER_PREFIX"]
        juki = sorted(p.stem for p in (root / "public").glob(f"{JUKI_PREFIX}*.pub"))
        assert juki == [
            juki_identity(c) for c in (CHIYODA, "jlis", "jlis-pki", "shinjuku-resident")
        ]
        # the layout before the split: no juki-* folder or public key, no juki-* broker user
        for identity in juki:
            shutil.rmtree(root / identity)
            (root / "public" / f"{identity}.pub").unlink()
        await delete_users(_ADMIN, [prefix + i for i in juki])
        before = files(root)

        code, out = await cli(env, "init")
        assert code == 0, out
        after = files(root)
        assert {k: v for k, v in after.items() if k in before} == before  # nothing overwritten
        assert sorted(set(after) - set(before)) == sorted(
            f"{where}"
            for i in juki
            for where in (f"public/{i}.pub", f"{i}/broker-password", f"{i}/private-key")
        )
        code, out = await cli(env, "broker", "setup")
        assert code == 0, out

        # J-LIS from the upgraded directory answers a register, each as its new 住基ネット user
        jlis = await start(env, "office", "jlis")
        try:
            settings = Settings(
                broker_url=env["RENKEI_BROKER_URL"],
                broker_vhost=env["RENKEI_BROKER_VHOST"],
                broker_user_prefix=prefix,
                _env_file=None,
            )
            identity = juki_identity(CHIYODA)
            password = State.load_passwords(root, [identity]).passwords[identity]
            bus = await connect_amqp(
                settings.juki_url_for(identity, password), identity=identity, user_prefix=prefix
            )
            link = JukiLink(CHIYODA, bus, timeout=10)
            await link.start()
            try:
                facts = Facts(
                    name="住基 花子", address="東京都千代田区1", birth_date="1990-01-01", sex="2"
                )
                with pytest.raises(OfficeError) as refused:  # answered: no such resident
                    await link.noted("12345678903", facts, municipality="131016")
                assert refused.value.code == "jlis.unknown_resident"
            finally:
                await link.stop()
                await bus.close()
        finally:
            assert await stop([jlis]) == [0]
