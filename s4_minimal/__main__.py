"""``python -m s4_minimal``: print versions, backend and devices (is my GPU used?)."""

from . import environment


def main() -> None:
    info = environment()
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
