//! Engagement over time as a chart (plotters): the composite engagement score of each
//! post at each stored snapshot, one line per post. SVG needs nothing from the system;
//! PNG is drawn into memory and encoded with `png`, its labels set in DejaVu Sans,
//! which is embedded (assets/fonts, Bitstream Vera licence), so no system fonts are read.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use plotters::prelude::*;

use super::metrics::FetchMetricsOutput;
use super::{AppError, AppResult, Ctx};
use crate::domain::PostId;

/// At most this many posts get a line (the best-scoring ones).
pub const MAX_LINES: usize = 8;
const SIZE: (u32, u32) = (960, 540);
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The image format, from a file name or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn from_path(path: &Path) -> AppResult<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(AppError::invalid(format!(
                "the chart file {} must end in .svg or .png",
                path.display()
            ))),
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Svg => "image/svg+xml",
            Format::Png => "image/png",
        }
    }
}

/// One line: a post's score at each snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// The lines for the posts of a `fetch_metrics` answer, best-scoring first.
pub async fn series_for(cx: Ctx<'_>, out: &FetchMetricsOutput) -> AppResult<Vec<Series>> {
    let mut posts: Vec<_> = out.posts.iter().filter(|p| p.latest.is_some()).collect();
    posts.sort_by(|a, b| b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)));
    let mut lines = Vec::new();
    for p in posts.into_iter().take(MAX_LINES) {
        let id = PostId::parse(&p.post_id).map_err(|e| AppError::Internal(e.to_string()))?;
        let history = cx.store.snapshot_history(&id, None).await?;
        lines.push(Series {
            label: format!(
                "{} {} {}",
                p.platform,
                p.post_id,
                super::text::preview(&p.text, 24)
            ),
            points: history.iter().map(|s| (s.collected_at, s.score)).collect(),
        });
    }
    Ok(lines)
}

fn font() -> AppResult<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(AppError::Internal(
            "the embedded chart font could not be loaded".into(),
        ))
    }
}

/// Draws the lines into an SVG or PNG file's bytes.
pub fn render(series: &[Series], format: Format) -> AppResult<Vec<u8>> {
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(AppError::invalid(
            "there are no snapshots to chart yet: collect metrics first (max_age_secs 0 collects now)",
        ));
    }
    font()?;
    let fail = |e: String| AppError::Internal(format!("cannot draw the chart: {e}"));
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, series).map_err(fail)?;
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
                draw(&root, series).map_err(fail)?;
            }
            encode_png(&rgb).map_err(fail)
        }
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    root.fill(&WHITE).map_err(e)?;
    let times = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0.timestamp()));
    let (mut lo, mut hi) = times.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
    if lo == hi {
        lo -= 3600;
        hi += 3600;
    }
    let mut chart = ChartBuilder::on(root)
        .caption("Engagement score over time", ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(lo as f64..hi as f64, 0f64..100f64)
        .map_err(e)?;
    let label = |x: &f64| {
        Utc.timestamp_opt(*x as i64, 0)
            .single()
            .map_or_else(String::new, |t| t.format("%m-%d %H:%M").to_string())
    };
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&label)
        .y_desc("score (0-100)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|(t, v)| (t.timestamp() as f64, *v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, SIZE.0, SIZE.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<Series> {
        let t0: DateTime<Utc> = "2026-11-20T06:00:00Z".parse().unwrap();
        vec![
            Series {
                label: "x post_a hello".into(),
                points: vec![(t0, 10.0), (t0 + chrono::Duration::days(1), 25.5)],
            },
            Series {
                label: "bluesky post_b".into(),
                points: vec![(t0, 5.0)],
            },
        ]
    }

    #[test]
    fn svg_and_png_render() {
        let svg = String::from_utf8(render(&lines(), Format::Svg).unwrap()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Engagement score over time"));
        assert!(svg.contains("x post_a hello"), "legend present");
        let png = render(&lines(), Format::Png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), SIZE);
    }

    #[test]
    fn nothing_to_draw_is_an_error_and_formats_come_from_names() {
        assert!(render(&[], Format::Svg).is_err());
        assert_eq!(Format::from_path(Path::new("a.PNG")).unwrap(), Format::Png);
        assert!(Format::from_path(Path::new("a.jpg")).is_err());
    }
}
