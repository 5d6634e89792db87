//! Clicks over time as an SVG bar chart drawn on the server: this module does the arithmetic
//! (bars stacked humans below bots, a rounded scale, a few date labels) and `templates/link.html`
//! draws the shapes. No script and no chart library; a table beside it says the same in words.

use crate::service::SeriesPoint;

/// The drawing's size in SVG units (it scales to the page's width).
pub const WIDTH: u32 = 720;
/// Height in SVG units.
pub const HEIGHT: u32 = 220;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// One day's (or hour's) bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left edge.
    pub x: String,
    /// Width.
    pub width: String,
    /// Top of the human part, and its height.
    pub human_y: String,
    /// Height of the human part.
    pub human_h: String,
    /// Top of the bot part.
    pub bot_y: String,
    /// Height of the bot part.
    pub bot_h: String,
    /// `2026-12-06: 5 people, 2 bots`, the bar's tooltip.
    pub label: String,
    /// The bucket's date (`2026-12-06`).
    pub date: String,
    /// People.
    pub human: u64,
    /// Bots.
    pub bot: u64,
}

/// A horizontal line of the scale with its value.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Its height.
    pub y: String,
    /// Its value.
    pub value: u64,
}

/// A date under the bars.
#[derive(Debug, Clone)]
pub struct XLabel {
    /// Its centre.
    pub x: String,
    /// `12-06`.
    pub text: String,
}

/// The chart, ready to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// The scale.
    pub ticks: Vec<Tick>,
    /// Dates under the bars.
    pub labels: Vec<XLabel>,
    /// Where the bars stand.
    pub baseline: String,
    /// Where the plot starts, left.
    pub left: String,
    /// Where it ends, right.
    pub right: String,
    /// Clicks by people over the whole range.
    pub human_total: u64,
    /// Clicks by bots over the whole range.
    pub bot_total: u64,
    /// The `viewBox` width.
    pub width: u32,
    /// The `viewBox` height.
    pub height: u32,
}

fn num(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest of 1, 2, 5, 10, 20, 50, … at least `max` (and at least 1).
pub fn nice_ceiling(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= max {
                return candidate;
            }
        }
        if step > u64::MAX / 10 {
            return u64::MAX;
        }
        step *= 10;
    }
}

/// The chart of `points` (one bar each).
pub fn chart(points: &[SeriesPoint]) -> Chart {
    let plot_w = f64::from(WIDTH) - LEFT - RIGHT;
    let plot_h = f64::from(HEIGHT) - TOP - BOTTOM;
    let baseline = TOP + plot_h;
    let top = nice_ceiling(points.iter().map(|p| p.human + p.bot).max().unwrap_or(0));
    let scale = plot_h / top as f64;
    let slot = plot_w / points.len().max(1) as f64;
    let width = (slot * 0.75).max(1.0);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
            let human_h = p.human as f64 * scale;
            let bot_h = p.bot as f64 * scale;
            let date = p
                .start
                .to_rfc3339()
                .get(..10)
                .unwrap_or_default()
                .to_owned();
            Bar {
                x: num(x),
                width: num(width),
                human_y: num(baseline - human_h),
                human_h: num(human_h),
                bot_y: num(baseline - human_h - bot_h),
                bot_h: num(bot_h),
                label: format!(
                    "{date}: {} {}, {} {}",
                    p.human,
                    if p.human == 1 { "person" } else { "people" },
                    p.bot,
                    if p.bot == 1 { "bot" } else { "bots" }
                ),
                date,
                human: p.human,
                bot: p.bot,
            }
        })
        .collect::<Vec<_>>();
    let values = if top == 1 {
        vec![0, 1]
    } else {
        vec![0, top / 2, top]
    };
    let ticks = values
        .into_iter()
        .map(|value| Tick {
            y: num(baseline - value as f64 * scale),
            value,
        })
        .collect();
    // First, middle and last dates, enough to read the range on a phone.
    let mut at = vec![0, bars.len() / 2, bars.len().saturating_sub(1)];
    at.dedup();
    let labels = at
        .into_iter()
        .filter_map(|i| {
            let bar = bars.get(i)?;
            Some(XLabel {
                x: num(LEFT + slot * i as f64 + slot / 2.0),
                text: bar.date.get(5..).unwrap_or_default().to_owned(),
            })
        })
        .collect();
    Chart {
        human_total: points.iter().map(|p| p.human).sum(),
        bot_total: points.iter().map(|p| p.bot).sum(),
        bars,
        ticks,
        labels,
        baseline: num(baseline),
        left: num(LEFT),
        right: num(f64::from(WIDTH) - RIGHT),
        width: WIDTH,
        height: HEIGHT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn point(day: i64, human: u64, bot: u64) -> SeriesPoint {
        SeriesPoint {
            start: Timestamp::from_unix_millis(1_767_225_600_000 + day * 86_400_000).unwrap(),
            human,
            bot,
        }
    }

    #[test]
    fn scales_round_up_to_one_two_or_five() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(4_000), 5_000);
    }

    #[test]
    fn bars_stack_bots_on_people_and_the_tallest_reaches_the_top() {
        let c = chart(&[point(0, 3, 1), point(1, 0, 0), point(2, 5, 5)]);
        assert_eq!(c.bars.len(), 3);
        assert_eq!((c.human_total, c.bot_total), (8, 6));
        let tallest = &c.bars[2];
        let top: f64 = tallest.bot_y.parse().unwrap();
        assert!((top - TOP).abs() < 0.2, "{top}");
        assert_eq!(c.bars[1].human_h, "0.0");
        assert_eq!(c.bars[0].label, "2026-01-01: 3 people, 1 bot");
        let texts: Vec<_> = c.labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["01-01", "01-02", "01-03"]);
    }

    #[test]
    fn an_empty_range_draws_nothing_but_the_axis() {
        let c = chart(&[]);
        assert!(c.bars.is_empty() && c.labels.is_empty());
        assert_eq!(c.ticks.first().unwrap().value, 0);
    }
}
