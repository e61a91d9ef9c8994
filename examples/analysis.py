"""The lesson's analysis, drawn: what the vehicles' telematics say.

Input: the DataFrame the lesson reads from S3 -- columns record_id,
timestamp, vin, lon, lat, speed (one row per OBD2 reading). Output: PNG
files (matplotlib, Agg backend, no display needed):

  speed_by_vehicle.png  the speed distribution of every vehicle: a box per
                        VIN (median, quartiles, whiskers at 1.5 IQR) with
                        every reading as a dot, slowest median at the top;
                        standing in traffic shows as dots at 0 km/h.
  positions.png         where the vehicles went: each vehicle's track as a
                        line in its own colour, its last position as a
                        triangle labelled with the end of its VIN, readings
                        coloured by speed; axes in degrees, scaled so a km
                        east is as long as a km north.

Usage: python3 examples/analysis.py FILE [--out DIR], where FILE holds
records in the lesson's format (e.g. `hydrant-fleet --output -`).
"""
import argparse
import math
import os
import sys

import pandas as pd

COLUMNS = ["record_id", "timestamp", "vin", "lon", "lat", "speed"]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        sys.exit("matplotlib is missing: apt-get install python3-matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def prepare(df):
    """Types and order: timestamps as UTC datetimes; rows in record id order
    (the order each device took its readings)."""
    df = df.copy()
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.sort_values("record_id").reset_index(drop=True)


def speed_by_vehicle(df, path):
    plt = _pyplot()
    order = df.groupby("vin")["speed"].median().sort_values(ascending=False).index.tolist()
    data = [df.loc[df["vin"] == v, "speed"].to_numpy() for v in order]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(order) + 2))
    ax.boxplot(data, vert=False, labels=order, showfliers=False, widths=0.6,
               medianprops={"color": "tab:red", "linewidth": 2})
    for i, speeds in enumerate(data, start=1):
        # every reading, spread a little vertically so they do not overlap
        jitter = [(((k * 7919) % 100) / 100 - 0.5) * 0.35 for k in range(len(speeds))]
        ax.scatter(speeds, [i + j for j in jitter], s=6, alpha=0.35, color="tab:blue")
    ax.set_xlabel("speed (km/h)")
    ax.set_ylabel("vehicle (VIN)")
    ax.set_xlim(left=-2)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Speed distribution per vehicle -- %d readings, %d vehicles"
                 % (len(df), len(order)))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def positions(df, path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 8))
    cmap = plt.get_cmap("tab20")
    for i, (vin, g) in enumerate(df.groupby("vin")):
        g = g.sort_values("record_id")
        color = cmap(i % 20)
        ax.plot(g["lon"], g["lat"], "-", color=color, linewidth=4, alpha=0.55)
        last = g.iloc[-1]
        ax.plot(last["lon"], last["lat"], marker="^", markersize=9, color=color,
                markeredgecolor="black")
        ax.annotate("..." + vin[-6:], (last["lon"], last["lat"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    sc = ax.scatter(df["lon"], df["lat"], c=df["speed"], cmap="viridis", s=2, zorder=3)
    fig.colorbar(sc, ax=ax, label="speed (km/h)", shrink=0.75)
    lat0 = df["lat"].mean()
    ax.set_aspect(1 / math.cos(math.radians(lat0)))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.grid(alpha=0.3)
    t0, t1 = df["timestamp"].min(), df["timestamp"].max()
    ax.set_title("Vehicle tracks, %s to %s UTC\n(line: a vehicle's track; dots: readings by speed; "
                 "triangle: last position)"
                 % (t0.strftime("%Y-%m-%d %H:%M:%S"), t1.strftime("%H:%M:%S")))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def analyse(df, out_dir):
    """Draws both figures into out_dir; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    df = prepare(df)
    return [speed_by_vehicle(df, os.path.join(out_dir, "speed_by_vehicle.png")),
            positions(df, os.path.join(out_dir, "positions.png"))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", help="records in the lesson's format, '-' for stdin")
    ap.add_argument("--out", default=".", help="directory for the PNGs")
    args = ap.parse_args()
    df = pd.read_csv(sys.stdin if args.file == "-" else args.file, sep=" ", names=COLUMNS)
    for p in analyse(df, args.out):
        print(p)


if __name__ == "__main__":
    main()
