//! The `/stats` chart: first-response p90 per customer tier per day, over the
//! daily ticket volume, rendered in process as a PNG.
//!
//! The font is embedded (DejaVu Sans, which covers Latin and Cyrillic) and
//! registered with plotters' `ab_glyph` backend, so the chart renders the same
//! on a bare server with no system fonts and no fontconfig. Rendering is
//! CPU-bound (about 10 ms in a release build); call it from `spawn_blocking`.

use std::error::Error as StdError;
use std::sync::OnceLock;

use chrono::DateTime;
use plotters::backend::RGBPixel;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One day of the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct DayPoint {
    /// Start of the day (UTC), ms since the epoch.
    pub day_start_ms: i64,
    /// Tickets opened that day.
    pub tickets: u64,
    /// First-response p90 in ms per tier, in the order premium, standard, basic, unknown; None = no answered ticket of that tier that day.
    pub frt_p90_ms: [Option<i64>; 4],
}

/// The chart's words, in the reader's language.
#[derive(Clone, Debug)]
pub struct ChartLabels {
    /// The caption above the plot, e.g. "First response p90 per tier, 1–7 Dec".
    pub title: String,
    /// Tier names for the legend, in the order premium, standard, basic, unknown.
    pub tiers: [String; 4],
    /// Description of the left axis, e.g. "FRT p90 (min)".
    pub minutes_axis: String,
    /// Description of the right axis and legend entry of the bars, e.g. "tickets / day".
    pub tickets_axis: String,
}

/// Why a chart could not be rendered. None of these is worth showing to a
/// user beyond "the chart is unavailable"; the caller logs the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// No days to draw; the caller says "no tickets" instead of sending a chart.
    #[error("no days to chart")]
    NoDays,
    /// More days than fit on the chart's width.
    #[error("{days} days to chart, at most {max} fit")]
    TooManyDays {
        /// Days asked for.
        days: usize,
        /// The most the chart draws.
        max: usize,
    },
    /// The embedded font could not be parsed (a broken build, not bad input).
    #[error("the embedded chart font could not be loaded")]
    Font,
    /// plotters failed while drawing into the in-memory bitmap.
    #[error("drawing the chart")]
    Draw(#[source] Box<dyn StdError + Send + Sync>),
    /// The bitmap could not be encoded as PNG.
    #[error("encoding the chart as PNG")]
    Encode(#[from] png::EncodingError),
}

/// The most days one chart draws: a 366-day period (the longest `/stats`
/// takes) touches 367 calendar days. Past that the
/// bars are narrower than a pixel and the caller should aggregate instead.
pub const MAX_DAYS: usize = 367;

/// Width of the rendered chart in pixels.
pub const CHART_WIDTH: u32 = 1000;
/// Height of the rendered chart in pixels.
pub const CHART_HEIGHT: u32 = 560;

/// Renders the chart as PNG bytes (about 1000×560). Days in order; an empty slice is an error (the caller says "no tickets" instead).
///
/// Bars (light grey, right axis) show the tickets opened each day; one line
/// with point markers per tier (left axis) shows its first-response p90 in
/// minutes. A day without a value for a tier breaks that tier's line, and a
/// tier with no value on any day is left out of the legend. Negative response
/// times (clock skew) are drawn as zero. Dates on the x axis are `dd.mm`
/// (UTC), which reads the same in every language we support.
pub fn render_frt_chart(days: &[DayPoint], labels: &ChartLabels) -> Result<Vec<u8>, ChartError> {
    if days.is_empty() {
        return Err(ChartError::NoDays);
    }
    if days.len() > MAX_DAYS {
        return Err(ChartError::TooManyDays { days: days.len(), max: MAX_DAYS });
    }
    register_embedded_font()?;

    let mut rgb = vec![0u8; CHART_WIDTH as usize * CHART_HEIGHT as usize * 3];
    {
        let backend =
            BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, (CHART_WIDTH, CHART_HEIGHT))
                .map_err(|e| ChartError::Draw(Box::new(e)))?;
        let root = backend.into_drawing_area();
        draw_chart(&root, days, labels).map_err(|e| ChartError::Draw(Box::new(e)))?;
        root.present().map_err(|e| ChartError::Draw(Box::new(e)))?;
    }
    encode_png(&rgb, CHART_WIDTH, CHART_HEIGHT)
}

/// DejaVu Sans 2.37; licence in `assets/fonts/LICENSE-DejaVu.txt`.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family plotters asks for by default (mesh labels, legend), so one
/// registration covers every text on the chart.
const FONT_FAMILY: &str = "sans-serif";

/// Colours of the tiers, in the order premium, standard, basic, unknown.
const TIER_COLOURS: [RGBColor; 4] = [
    RGBColor(220, 20, 60),   // crimson
    RGBColor(31, 94, 204),   // blue
    RGBColor(34, 139, 34),   // forest green
    RGBColor(112, 128, 144), // slate grey: never produced by anti-aliased black text
];
const BAR_COLOUR: RGBColor = RGBColor(214, 214, 214);
const GRID_COLOUR: RGBColor = RGBColor(235, 235, 235);
const TEXT_COLOUR: RGBColor = RGBColor(40, 40, 40);

const TITLE_FONT_SIZE: u32 = 22;
const LABEL_FONT_SIZE: u32 = 14;
const DESC_FONT_SIZE: u32 = 15;
/// At most this many dates under the x axis; more would overlap.
const MAX_DATE_LABELS: usize = 15;
const MS_PER_MINUTE: f64 = 60_000.0;

/// Registers the embedded font with plotters once per process. plotters keeps
/// fonts in a process-wide table keyed by family name.
fn register_embedded_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if registered { Ok(()) } else { Err(ChartError::Font) }
}

type Backend<'a> = BitMapBackend<'a, RGBPixel>;
type Area<'a> = DrawingArea<Backend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<<Backend<'static> as DrawingBackend>::ErrorType>>;

/// Height of the band above the plot that holds the title and the legend.
const HEADER_HEIGHT: u32 = 74;
/// Vertical centre of the legend row inside the header.
const LEGEND_ROW_Y: i32 = 56;
/// Widest a day's bar gets, in pixels, so a short period doesn't draw slabs.
const MAX_BAR_WIDTH: f64 = 56.0;

/// Lays the chart out as a header (title, then a one-row legend) over the
/// plot. The legend sits outside the plot so it never hides a bar or a point.
fn draw_chart(root: &Area<'_>, days: &[DayPoint], labels: &ChartLabels) -> DrawResult {
    root.fill(&WHITE)?;
    let series = TierSeries::from_days(days);
    let (header, body) = root.split_vertically(HEADER_HEIGHT);
    draw_title(&header, &labels.title)?;
    draw_legend(&header, &legend_entries(&series, labels))?;
    draw_plot(&body, days, &series, labels)
}

fn draw_title(header: &Area<'_>, title: &str) -> DrawResult {
    let style =
        (FONT_FAMILY, TITLE_FONT_SIZE).into_font().color(&TEXT_COLOUR).pos(Pos::new(HPos::Center, VPos::Top));
    header.draw_text(title, &style, (CHART_WIDTH as i32 / 2, 12))
}

/// What a legend entry shows before its words.
#[derive(Clone, Copy)]
enum LegendMark {
    Bar,
    Tier(RGBColor),
}

/// The bars first, then each tier that has at least one point.
fn legend_entries<'l>(series: &TierSeries, labels: &'l ChartLabels) -> Vec<(LegendMark, &'l str)> {
    let mut entries = vec![(LegendMark::Bar, labels.tickets_axis.as_str())];
    for (tier, points) in series.points.iter().enumerate() {
        if !points.is_empty() {
            entries.push((LegendMark::Tier(TIER_COLOURS[tier]), labels.tiers[tier].as_str()));
        }
    }
    entries
}

/// One centred row; entries that do not fit the width are clipped at the right edge.
fn draw_legend(header: &Area<'_>, entries: &[(LegendMark, &str)]) -> DrawResult {
    const MARK_WIDTH: i32 = 22;
    const MARK_GAP: i32 = 6;
    const ENTRY_GAP: i32 = 26;
    // Centring on the layout box sits lower-case words a little high next to the marks.
    const TEXT_NUDGE: i32 = 2;
    let style = (FONT_FAMILY, LABEL_FONT_SIZE)
        .into_font()
        .color(&TEXT_COLOUR)
        .pos(Pos::new(HPos::Left, VPos::Center));

    let mut widths = Vec::with_capacity(entries.len());
    for (_, text) in entries {
        let (text_width, _) = header.estimate_text_size(text, &style)?;
        widths.push((MARK_WIDTH + MARK_GAP).saturating_add(i32::try_from(text_width).unwrap_or(i32::MAX)));
    }
    let total =
        widths.iter().fold(0i32, |sum, w| sum.saturating_add(*w).saturating_add(ENTRY_GAP)) - ENTRY_GAP;
    let mut x = ((CHART_WIDTH as i32 - total) / 2).max(14);
    let y = LEGEND_ROW_Y;

    for ((mark, text), width) in entries.iter().zip(widths) {
        if x >= CHART_WIDTH as i32 {
            break;
        }
        match mark {
            LegendMark::Bar => header
                .draw(&Rectangle::new([(x + 2, y - 6), (x + MARK_WIDTH - 2, y + 6)], BAR_COLOUR.filled()))?,
            LegendMark::Tier(colour) => {
                header.draw(&PathElement::new(vec![(x, y), (x + MARK_WIDTH, y)], colour.stroke_width(2)))?;
                header.draw(&Circle::new((x + MARK_WIDTH / 2, y), 4, colour.filled()))?;
            }
        }
        header.draw_text(text, &style, (x + MARK_WIDTH + MARK_GAP, y + TEXT_NUDGE))?;
        x = x.saturating_add(width).saturating_add(ENTRY_GAP);
    }
    Ok(())
}

/// Axes, bars on the right (tickets) axis, tier lines on the left (minutes) axis.
fn draw_plot(body: &Area<'_>, days: &[DayPoint], series: &TierSeries, labels: &ChartLabels) -> DrawResult {
    let x_axis = DayAxis::new(days.len());
    let minutes_top = axis_top(series.max_minutes(), 1.0);
    let tickets_top = axis_top(days.iter().map(|d| d.tickets as f64).fold(0.0, f64::max), 5.0);

    let mut chart = ChartBuilder::on(body)
        .margin_top(8)
        .margin_bottom(14)
        .margin_left(14)
        .margin_right(14)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(x_axis.clone(), 0.0..minutes_top)?
        .set_secondary_coord(x_axis, 0.0..tickets_top);

    let label_font = (FONT_FAMILY, LABEL_FONT_SIZE).into_font().color(&TEXT_COLOUR);
    let desc_font = (FONT_FAMILY, DESC_FONT_SIZE).into_font().color(&TEXT_COLOUR);
    let date_label = |x: &f64| date_label_at(days, *x);
    let minutes_label = |y: &f64| axis_number(*y);
    let tickets_label = |y: &f64| whole_number(*y);

    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_COLOUR)
        .y_labels(8)
        .x_label_formatter(&date_label)
        .y_label_formatter(&minutes_label)
        .x_label_style(label_font.clone())
        .y_label_style(label_font.clone())
        .y_desc(labels.minutes_axis.as_str())
        .axis_desc_style(desc_font.clone())
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_labels(6)
        .y_label_formatter(&tickets_label)
        .label_style(label_font)
        .y_desc(labels.tickets_axis.as_str())
        .axis_desc_style(desc_font)
        .draw()?;

    let (plot_width, _) = chart.plotting_area().dim_in_pixel();
    let pixels_per_day = f64::from(plot_width) / days.len() as f64;
    let half_bar = 0.35_f64.min(MAX_BAR_WIDTH / 2.0 / pixels_per_day.max(1.0));
    chart.draw_secondary_series(days.iter().enumerate().map(|(i, day)| {
        let x = i as f64;
        Rectangle::new([(x - half_bar, 0.0), (x + half_bar, day.tickets as f64)], BAR_COLOUR.filled())
    }))?;

    let marker_radius = if pixels_per_day < 12.0 { 2 } else { 4 };
    for (tier, points) in series.points.iter().enumerate() {
        let colour = TIER_COLOURS[tier];
        for run in consecutive_runs(points) {
            chart.draw_series(LineSeries::new(
                run.iter().map(|&(i, m)| (i as f64, m)),
                colour.stroke_width(2),
            ))?;
        }
        chart.draw_series(
            points.iter().map(|&(i, m)| Circle::new((i as f64, m), marker_radius, colour.filled())),
        )?;
    }
    Ok(())
}

/// The x axis: day `i` is centred at `i`, with half a day of room at either
/// end, and ticks only under the days that get a date.
#[derive(Clone)]
struct DayAxis {
    days: usize,
    ticks: Vec<f64>,
}

impl DayAxis {
    fn new(days: usize) -> Self {
        let step = days.div_ceil(MAX_DATE_LABELS).max(1);
        Self { days, ticks: (0..days).step_by(step).map(|i| i as f64).collect() }
    }
}

impl Ranged for DayAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value + 0.5) / self.days.max(1) as f64;
        let pixel = f64::from(limit.0) + share * f64::from(limit.1 - limit.0);
        // `as` saturates (NaN becomes 0), so no value can overflow the backend.
        pixel.round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.days as f64 - 0.5
    }
}

/// Each tier's present values as (day index, minutes), in day order.
struct TierSeries {
    points: [Vec<(usize, f64)>; 4],
}

impl TierSeries {
    fn from_days(days: &[DayPoint]) -> Self {
        let mut points: [Vec<(usize, f64)>; 4] = Default::default();
        for (i, day) in days.iter().enumerate() {
            for (tier, p90) in day.frt_p90_ms.iter().enumerate() {
                if let Some(ms) = p90 {
                    points[tier].push((i, (*ms as f64 / MS_PER_MINUTE).max(0.0)));
                }
            }
        }
        Self { points }
    }

    fn max_minutes(&self) -> f64 {
        self.points.iter().flatten().map(|&(_, m)| m).fold(0.0, f64::max)
    }
}

/// Splits points into runs of consecutive days, so a missing day breaks the line.
fn consecutive_runs(points: &[(usize, f64)]) -> Vec<&[(usize, f64)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        let run_ends = i == points.len() || points[i].0 != points[i - 1].0 + 1;
        if run_ends {
            runs.push(&points[start..i]);
            start = i;
        }
    }
    runs
}

/// The top of an axis: a little headroom over the largest value, and never
/// less than `floor`, so an all-zero day still gets a readable axis.
fn axis_top(max: f64, floor: f64) -> f64 {
    if max.is_finite() { (max * 1.1).max(floor) } else { floor }
}

/// `dd.mm` of the day at x, or nothing between days or for an unrepresentable date.
fn date_label_at(days: &[DayPoint], x: f64) -> String {
    let index = x.round();
    if (x - index).abs() > 1e-6 || index < 0.0 {
        return String::new();
    }
    days.get(index as usize)
        .and_then(|day| DateTime::from_timestamp_millis(day.day_start_ms))
        .map(|date| date.format("%d.%m").to_string())
        .unwrap_or_default()
}

/// A tick value on the minutes axis: whole numbers plainly, fractions with at
/// most two decimals, absurdly large values in scientific notation so they fit.
fn axis_number(value: f64) -> String {
    if value.abs() >= 1e6 {
        return format!("{value:.1e}");
    }
    if (value - value.round()).abs() < 1e-9 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A tick value on the tickets axis: only whole numbers are labelled.
fn whole_number(value: f64) -> String {
    if value.abs() < 1e6 && (value - value.round()).abs() > 1e-9 {
        return String::new();
    }
    axis_number(value)
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;
    /// 2024-12-01T00:00:00Z.
    const DEC_1_2024_MS: i64 = 1_733_011_200_000;
    /// Rows of the header that hold the title and nothing else.
    const TITLE_BAND: std::ops::Range<u32> = 0..42;

    fn english_labels(title: &str) -> ChartLabels {
        ChartLabels {
            title: title.to_string(),
            tiers: ["premium".into(), "standard".into(), "basic".into(), "unknown".into()],
            minutes_axis: "FRT p90 (min)".into(),
            tickets_axis: "tickets / day".into(),
        }
    }

    fn russian_labels(title: &str) -> ChartLabels {
        ChartLabels {
            title: title.to_string(),
            tiers: ["Премиум".into(), "Стандарт".into(), "Базовый".into(), "Неизвестно".into()],
            minutes_axis: "Первый ответ p90 (мин)".into(),
            tickets_axis: "обращений в день".into(),
        }
    }

    /// `n` days from 1 Dec 2024 with every tier answered and some gaps.
    fn sample_days(n: usize) -> Vec<DayPoint> {
        (0..n)
            .map(|i| {
                let i64_i = i as i64;
                DayPoint {
                    day_start_ms: DEC_1_2024_MS + i64_i * DAY_MS,
                    tickets: 20 + (i as u64 * 7) % 15,
                    frt_p90_ms: [
                        Some(300_000 + (i64_i % 5) * 60_000),
                        if i % 4 == 2 { None } else { Some(900_000 + (i64_i % 3) * 120_000) },
                        Some(1_800_000 - (i64_i % 6) * 100_000),
                        if i % 3 == 0 { Some(2_400_000) } else { None },
                    ],
                }
            })
            .collect()
    }

    struct Decoded {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    }

    impl Decoded {
        fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
        }

        fn count_in_rows(&self, rows: std::ops::Range<u32>, wanted: impl Fn([u8; 3]) -> bool) -> usize {
            rows.flat_map(|y| (0..self.width).map(move |x| (x, y)))
                .filter(|&(x, y)| wanted(self.pixel(x, y)))
                .count()
        }

        fn count(&self, wanted: impl Fn([u8; 3]) -> bool) -> usize {
            self.count_in_rows(0..self.height, wanted)
        }

        fn rows(&self, rows: std::ops::Range<u32>) -> &[u8] {
            let row_bytes = self.width as usize * 3;
            &self.rgb[rows.start as usize * row_bytes..rows.end as usize * row_bytes]
        }
    }

    fn decode(png_bytes: &[u8]) -> Decoded {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("PNG header decodes");
        let mut rgb = vec![0; reader.output_buffer_size().expect("buffer size fits memory")];
        let frame = reader.next_frame(&mut rgb).expect("PNG frame decodes");
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        assert_eq!(frame.bit_depth, png::BitDepth::Eight);
        rgb.truncate(frame.buffer_size());
        Decoded { width: frame.width, height: frame.height, rgb }
    }

    fn render(days: &[DayPoint], labels: &ChartLabels) -> Decoded {
        decode(&render_frt_chart(days, labels).expect("chart renders"))
    }

    fn is_white(p: [u8; 3]) -> bool {
        p == [255, 255, 255]
    }

    /// Anti-aliased text in TEXT_COLOUR: clearly darker than the light greys.
    fn is_ink(p: [u8; 3]) -> bool {
        p.iter().all(|&c| c < 160)
    }

    #[test]
    fn png_starts_with_signature_and_ihdr_of_chart_size() {
        let bytes = render_frt_chart(&sample_days(7), &english_labels("week")).expect("chart renders");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[8..12], &13u32.to_be_bytes(), "IHDR data is 13 bytes");
        assert_eq!(&bytes[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]), CHART_WIDTH);
        assert_eq!(u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]), CHART_HEIGHT);
    }

    #[test]
    fn png_decodes_to_chart_size() {
        let image = render(&sample_days(7), &english_labels("week"));
        assert_eq!((image.width, image.height), (1000, 560));
        assert_eq!(image.rgb.len(), 1000 * 560 * 3);
    }

    #[test]
    fn chart_is_not_blank_and_draws_bars_and_every_tier() {
        let image = render(&sample_days(7), &english_labels("week"));
        let drawn = image.count(|p| !is_white(p));
        assert!(drawn > 1000 * 560 / 20, "only {drawn} non-white pixels");
        assert!(image.count(|p| p == [BAR_COLOUR.0, BAR_COLOUR.1, BAR_COLOUR.2]) > 5_000, "bars are missing");
        for colour in TIER_COLOURS {
            let exact = [colour.0, colour.1, colour.2];
            assert!(image.count(|p| p == exact) > 100, "tier colour {exact:?} is missing");
        }
    }

    #[test]
    fn embedded_font_draws_the_title() {
        let without = render(&sample_days(7), &english_labels(""));
        let with = render(&sample_days(7), &english_labels("First response p90 per tier, 1–7 Dec"));
        assert_eq!(without.count_in_rows(TITLE_BAND, |p| !is_white(p)), 0, "title band should be empty");
        let ink = with.count_in_rows(TITLE_BAND, is_ink);
        assert!(ink > 300, "title drew only {ink} dark pixels");
        // Only the title changed, so everything below its band is identical.
        assert_eq!(without.rows(TITLE_BAND.end..CHART_HEIGHT), with.rows(TITLE_BAND.end..CHART_HEIGHT));
    }

    #[test]
    fn cyrillic_letters_are_drawn_as_distinct_glyphs() {
        // Were Cyrillic missing from the font, both titles would be rows of the
        // same replacement box.
        let zhe = render(&sample_days(3), &russian_labels("ЖЖЖЖЖЖ"));
        let de = render(&sample_days(3), &russian_labels("ДДДДДД"));
        assert!(zhe.count_in_rows(TITLE_BAND, is_ink) > 100);
        assert!(de.count_in_rows(TITLE_BAND, is_ink) > 100);
        assert_ne!(zhe.rows(TITLE_BAND), de.rows(TITLE_BAND));
    }

    #[test]
    fn russian_labels_render() {
        let image = render(&sample_days(30), &russian_labels("Первый ответ p90 по уровням, 1–30 декабря"));
        assert!(image.count_in_rows(TITLE_BAND, is_ink) > 300);
    }

    #[test]
    fn one_day_renders() {
        let image = render(&sample_days(1), &english_labels("one day"));
        assert_eq!((image.width, image.height), (CHART_WIDTH, CHART_HEIGHT));
        let premium = [TIER_COLOURS[0].0, TIER_COLOURS[0].1, TIER_COLOURS[0].2];
        assert!(image.count(|p| p == premium) > 20, "the single point is drawn");
    }

    #[test]
    fn ninety_days_render() {
        let image = render(&sample_days(90), &english_labels("quarter"));
        assert!(image.count(|p| !is_white(p)) > 1000 * 560 / 20);
    }

    #[test]
    fn a_full_year_renders_and_more_is_refused() {
        render(&sample_days(MAX_DAYS), &english_labels("year"));
        let too_many = render_frt_chart(&sample_days(MAX_DAYS + 1), &english_labels("too long"));
        assert!(matches!(too_many, Err(ChartError::TooManyDays { days: 368, max: 367 })));
    }

    #[test]
    fn all_missing_p90s_render_with_bars_only() {
        let mut days = sample_days(5);
        for day in &mut days {
            day.frt_p90_ms = [None; 4];
        }
        let image = render(&days, &english_labels("no answers"));
        assert!(image.count(|p| p == [BAR_COLOUR.0, BAR_COLOUR.1, BAR_COLOUR.2]) > 5_000);
        for colour in TIER_COLOURS {
            let exact = [colour.0, colour.1, colour.2];
            assert_eq!(image.count(|p| p == exact), 0, "tier colour {exact:?} drawn without data");
        }
    }

    #[test]
    fn a_tier_without_points_is_left_out_of_the_legend() {
        let mut days = sample_days(7);
        for day in &mut days {
            day.frt_p90_ms[2] = None; // basic
        }
        let image = render(&days, &english_labels("no basic"));
        let green = [TIER_COLOURS[2].0, TIER_COLOURS[2].1, TIER_COLOURS[2].2];
        assert_eq!(image.count(|p| p == green), 0, "basic appears in the legend or plot");
        let crimson = [TIER_COLOURS[0].0, TIER_COLOURS[0].1, TIER_COLOURS[0].2];
        assert!(image.count_in_rows(0..HEADER_HEIGHT, |p| p == crimson) > 10, "premium is in the legend");
    }

    #[test]
    fn zero_empty_and_extreme_values_render() {
        let mut days = sample_days(6);
        days[0].frt_p90_ms = [Some(i64::MAX), Some(i64::MIN), Some(0), Some(-1)];
        days[1].tickets = u64::MAX;
        days[2].tickets = 0;
        days[2].day_start_ms = i64::MIN;
        days[3].day_start_ms = i64::MAX;
        days[4].day_start_ms = -DAY_MS;
        days[5].frt_p90_ms = [Some(0); 4];
        render(&days, &english_labels("extremes"));

        let all_zero =
            vec![DayPoint { day_start_ms: 0, tickets: 0, frt_p90_ms: [Some(0), None, Some(-5), None] }; 3];
        render(&all_zero, &english_labels(""));

        let empty_words = ChartLabels {
            title: String::new(),
            tiers: Default::default(),
            minutes_axis: String::new(),
            tickets_axis: String::new(),
        };
        render(&sample_days(4), &empty_words);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(render_frt_chart(&[], &english_labels("nothing")), Err(ChartError::NoDays)));
    }

    #[test]
    fn a_gap_day_breaks_the_line_into_runs() {
        let points = [(0, 1.0), (1, 2.0), (3, 3.0), (5, 4.0), (6, 5.0)];
        let runs = consecutive_runs(&points);
        assert_eq!(runs, vec![&points[0..2], &points[2..3], &points[3..5]]);
        assert!(consecutive_runs(&[]).is_empty());
    }

    #[test]
    fn negative_response_times_are_drawn_as_zero() {
        let days = [DayPoint {
            day_start_ms: 0,
            tickets: 1,
            frt_p90_ms: [Some(-60_000), Some(120_000), None, None],
        }];
        let series = TierSeries::from_days(&days);
        assert_eq!(series.points[0], vec![(0, 0.0)]);
        assert_eq!(series.points[1], vec![(0, 2.0)]);
        assert!(series.points[2].is_empty());
    }

    #[test]
    fn dates_are_day_and_month_only_on_whole_days() {
        let days = sample_days(40);
        assert_eq!(date_label_at(&days, 0.0), "01.12");
        assert_eq!(date_label_at(&days, 31.0), "01.01");
        assert_eq!(date_label_at(&days, 0.5), "");
        assert_eq!(date_label_at(&days, -1.0), "");
        assert_eq!(date_label_at(&days, 40.0), "");
        let unrepresentable = [DayPoint { day_start_ms: i64::MAX, tickets: 0, frt_p90_ms: [None; 4] }];
        assert_eq!(date_label_at(&unrepresentable, 0.0), "");
    }

    #[test]
    fn axis_numbers_stay_short() {
        assert_eq!(axis_number(0.0), "0");
        assert_eq!(axis_number(40.0), "40");
        assert_eq!(axis_number(0.2), "0.2");
        assert_eq!(axis_number(2.25), "2.25");
        assert_eq!(axis_number(1.5e14), "1.5e14");
        assert_eq!(whole_number(2.5), "");
        assert_eq!(whole_number(30.0), "30");
        assert_eq!(whole_number(1.8e19), "1.8e19");
    }

    #[test]
    fn date_ticks_are_capped() {
        assert_eq!(DayAxis::new(1).ticks, vec![0.0]);
        assert_eq!(DayAxis::new(7).ticks.len(), 7);
        assert!(DayAxis::new(90).ticks.len() <= MAX_DATE_LABELS);
        assert!(DayAxis::new(MAX_DAYS).ticks.len() <= MAX_DATE_LABELS);
    }

    /// Manual: `cargo test --release --lib insights::chart::tests::render_time -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints timings; run by hand"]
    fn render_time_for_thirty_days() {
        let days = sample_days(30);
        let labels = english_labels("First response p90 per tier, 1–30 Dec");
        render_frt_chart(&days, &labels).expect("warm-up render");
        let runs = 20;
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..runs {
            bytes = render_frt_chart(&days, &labels).expect("chart renders").len();
        }
        println!("30 days: {:?} per render, {bytes} bytes of PNG", started.elapsed() / runs);
    }
}
