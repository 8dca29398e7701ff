"""Egg build for Scrapyd (``scrapyd-deploy`` runs ``python setup.py bdist_egg``).

Package metadata lives in pyproject.toml; this file exists so that
``scrapyd-deploy`` does not write its own ``find_packages()`` setup.py, which
would put ``scheduler/`` and ``tests/`` in the egg. The egg holds the
``scraperq`` package only: the Scrapy project, with its ``scrapy`` entry point
naming ``scraperq.settings``. ``pip install`` (wheel or editable) is unchanged
and still installs ``scheduler/`` too.
"""

from setuptools import setup
from setuptools.command.bdist_egg import bdist_egg


class ProjectEgg(bdist_egg):
    """bdist_egg with the scraperq package and nothing else."""

    def finalize_options(self) -> None:
        packages = self.distribution.packages or []
        self.distribution.packages = [p for p in packages if p == "scraperq" or p.startswith("scraperq.")]
        super().finalize_options()


setup(cmdclass={"bdist_egg": ProjectEgg})
