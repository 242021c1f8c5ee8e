"""Entry point: ``python -m runner [overrides]`` and the ``calclab`` console script.

The config tree ships inside the installed package ``conf`` (found after a plain
``pip install .`` as well as an editable install).
"""
import hydra

from runner import app


@hydra.main(config_path="pkg://conf", config_name="config", version_base="1.3")
def _hydra_entry(cfg):
    return app.main(cfg)


def main():
    _hydra_entry()


if __name__ == "__main__":
    main()
