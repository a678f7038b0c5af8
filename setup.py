"""Packaging beyond what pyproject.toml can say: the top-level templates/, static/ and locale/
folders ship inside the wheel as the data packages `bulletin_templates`, `bulletin_static` and
`bulletin_locale`, so an installed Bulletin (`pip install .`, the Docker image) needs no source
tree (config.settings.base finds them either way). Metadata and dependencies: pyproject.toml."""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

APPS = ["config", "core", "publishing", "channels_app", "subscribers", "analytics"]
FOLDERS = {"bulletin_templates": "templates", "bulletin_static": "static", "bulletin_locale": "locale"}


def data_packages() -> dict[str, str]:
    """Every folder below each asset folder, as a package name mapped to its directory."""
    packages = {}
    for name, folder in FOLDERS.items():
        root = Path(folder)
        if root.is_dir():
            for directory in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
                parts = directory.relative_to(root).parts
                packages[".".join([name, *parts])] = str(directory)
    return packages


class BuildWithTranslations(build_py):
    """Compile locale/*/LC_MESSAGES/*.po into the wheel's .mo files (Babel, a build requirement:
    no gettext on the building machine), so an installed Bulletin speaks every shipped language."""

    def run(self):
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_path in sorted(Path("locale").glob("*/LC_MESSAGES/*.po")):
            target = Path(self.build_lib, "bulletin_locale", *po_path.with_suffix(".mo").parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as po_file, target.open("wb") as mo_file:
                write_mo(mo_file, read_po(po_file, locale=po_path.parts[1]))


DATA = data_packages()

setup(
    packages=find_packages(include=[f"{app}*" for app in APPS]) + list(DATA),
    package_dir=DATA,
    package_data={name: ["*"] for name in DATA},
    cmdclass={"build_py": BuildWithTranslations},
)
