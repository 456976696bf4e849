// Time-series bar charts drawn by uPlot (canvas). Only the lazily loaded usage panel imports
// this module, so uPlot never weighs on the initial bundle.
import { useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatCompact, type ChartData } from "./usage-model.js";

export interface BarSeries {
  label: string;
  /** A CSS custom property holding the colour (so light and dark themes both apply). */
  color: `--${string}`;
}

interface BarChartProps {
  /** The chart's text alternative (what a screen reader hears for the whole picture). */
  label: string;
  data: ChartData;
  /**
   * Drawn in order from the axis up, each over the one before: a later series whose values
   * are part of an earlier one's (errors within requests) reads as stacked beneath it.
   */
  series: BarSeries[];
  height?: number;
  /** Tick label for an x value (UTC seconds). */
  formatTick: (seconds: number) => string;
  /**
   * How many bars one tick may cover, smallest first (1, 2, 7 days; 1, 6, 24 hours): ticks
   * sit on bars, as far apart as the width needs, on round boundaries.
   */
  tickEvery: number[];
  /** What the hover line says for one index. */
  describe: (index: number) => string;
  /** Shown instead where the browser cannot draw on a canvas. */
  fallback: ReactNode;
  /** Colour keys, in the row above the plot (the hover read-out shares it). */
  legend?: ReactNode;
}

const INCREMENTS = [
  1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1_000, 2_000, 2_500, 5_000, 10_000, 20_000, 25_000,
  50_000, 100_000, 200_000, 250_000, 500_000, 1_000_000, 2_000_000, 5_000_000,
];

let canvasOk: boolean | undefined;
/** Canvas can be missing (blocked by a privacy extension, or a test DOM): the table stands in. */
function canvasSupported(): boolean {
  canvasOk ??= (() => {
    try {
      return document.createElement("canvas").getContext("2d") !== null;
    } catch {
      return false;
    }
  })();
  return canvasOk;
}

const DARK_QUERY = "(prefers-color-scheme: dark)";
function subscribeScheme(listener: () => void) {
  const query = window.matchMedia(DARK_QUERY);
  query.addEventListener("change", listener);
  return () => query.removeEventListener("change", listener);
}
const isDark = () => window.matchMedia(DARK_QUERY).matches;

export function BarChart(props: BarChartProps) {
  if (!canvasSupported()) return <>{props.fallback}</>;
  return <CanvasBarChart {...props} />;
}

function CanvasBarChart({
  label,
  data,
  series,
  height = 220,
  formatTick,
  tickEvery,
  describe,
  legend,
}: BarChartProps) {
  const plotRef = useRef<HTMLDivElement>(null);
  const [hovered, setHovered] = useState<number | null>(null);
  // Canvas colours are resolved once per draw: redraw when the colour scheme flips.
  const dark = useSyncExternalStore(subscribeScheme, isDark);
  const formatTickRef = useRef(formatTick);
  useEffect(() => {
    formatTickRef.current = formatTick;
  });

  useEffect(() => {
    const el = plotRef.current;
    if (!el) return;
    const style = getComputedStyle(el);
    const color = (name: string) => style.getPropertyValue(name).trim() || "#888";
    const axisColor = color("--chart-axis");
    const gridColor = color("--chart-grid");
    const font = `12px ${style.fontFamily}`;
    const { xs, step } = data;
    // uPlot gives a lone x value the whole scale from it onwards, so a one-day window drew its
    // only bar against the left edge: an empty slot either side centres it (ticks stay on xs).
    const lone = xs.length === 1;
    const plotted = lone
      ? {
          xs: [xs[0]! - step, xs[0]!, xs[0]! + step],
          series: data.series.map((values) => [null, values[0] ?? null, null]),
        }
      : data;
    const bars = uPlot.paths.bars!({ size: [0.72, 42, 1], radius: 0.15, align: 0 });

    const chart = new uPlot(
      {
        width: Math.max(el.clientWidth, 200),
        height,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        legend: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        cursor: {
          y: false,
          points: { show: false },
          drag: { x: false, y: false, setScale: false },
        },
        scales: {
          x: {
            time: true,
            range: (_u, min, max) => [min - step / 2, max + step / 2],
          },
          y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.12))] },
        },
        axes: [
          {
            stroke: axisColor,
            font,
            space: 56,
            gap: 6,
            size: 34,
            grid: { show: false },
            ticks: { stroke: gridColor, size: 4, width: 1 },
            splits: (u) => {
              const room = Math.max(u.width - 70, 100);
              const wanted = Math.ceil((xs.length * 64) / room);
              const every = tickEvery.find((n) => n >= wanted) ?? tickEvery.at(-1) ?? 1;
              return xs.filter((_, index) => index % every === 0);
            },
            values: (_u, splits) => splits.map((split) => formatTickRef.current(split)),
          },
          {
            stroke: axisColor,
            font,
            size: 52,
            gap: 6,
            incrs: INCREMENTS,
            grid: { stroke: gridColor, width: 1 },
            ticks: { show: false },
            values: (_u, splits) => splits.map((split) => formatCompact(split)),
          },
        ],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            fill: color(s.color),
            stroke: color(s.color),
            width: 0,
            paths: bars,
            points: { show: false },
          })),
        ],
        hooks: {
          setCursor: [
            (u: uPlot) => {
              const at = u.cursor.idx;
              const index = at === undefined || at === null ? null : lone ? at - 1 : at;
              setHovered(index !== null && index >= 0 && index < xs.length ? index : null);
            },
          ],
        },
      },
      [plotted.xs, ...plotted.series] as uPlot.AlignedData,
      el,
    );

    const observer = new ResizeObserver(() => {
      const width = Math.max(el.clientWidth, 200);
      if (width !== chart.width) chart.setSize({ width, height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [data, series, height, dark, tickEvery]);

  return (
    <div className="chart">
      <div className="chart-top">
        {legend}
        <p className="chart-readout" aria-hidden="true">
          {hovered === null ? "\u00a0" : describe(hovered)}
        </p>
      </div>
      <div
        ref={plotRef}
        className="chart-plot"
        role="img"
        aria-label={label}
        onMouseLeave={() => setHovered(null)}
      />
    </div>
  );
}

/** Colour keys for a chart (the canvas has no legend of its own). */
export function Legend({ items }: { items: { label: string; className: string }[] }) {
  return (
    <ul className="legend">
      {items.map((item) => (
        <li key={item.label}>
          <span className={`swatch ${item.className}`} />
          {item.label}
        </li>
      ))}
    </ul>
  );
}
