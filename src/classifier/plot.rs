//! The SVG report: precision-recall curve and per-class score histograms with the recommended thresholds.

use std::path::Path;

use plotters::prelude::*;

use super::eval::pr_curve;
use super::model::Thresholds;

const BINS: usize = 20;

/// Draws `report.svg`-style charts for held-out `scores` / `labels` into `path`.
pub fn write_svg(
    path: &Path,
    title: &str,
    scores: &[f32],
    labels: &[bool],
    t: &Thresholds,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (left, right) = root.split_horizontally(540);
    draw_pr(&left, scores, labels, t).map_err(|e| anyhow::anyhow!("drawing PR curve: {e}"))?;
    draw_hist(&right, scores, labels, t).map_err(|e| anyhow::anyhow!("drawing histogram: {e}"))?;
    root.present()
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw_pr(area: &Area<'_>, scores: &[f32], labels: &[bool], t: &Thresholds) -> DrawResult {
    let curve = pr_curve(scores, labels);
    let mut chart = ChartBuilder::on(area)
        .caption("precision-recall (spam)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..1.0f64, 0f64..1.02f64)?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            curve.iter().map(|&(_, r, p)| (r, p)),
            BLUE.stroke_width(2),
        ))?
        .label("PR curve")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    // Operating point of the auto-reject threshold on the curve.
    if let Some(&(_, r, p)) = curve.iter().find(|&&(th, _, _)| th <= t.auto_reject) {
        chart
            .draw_series(std::iter::once(Circle::new((r, p), 6, RED.filled())))?
            .label(format!("auto-reject >= {:.3}", t.auto_reject))
            .legend(|(x, y)| Circle::new((x + 8, y), 5, RED.filled()));
    }
    if let Some(&(_, r, p)) = curve.iter().find(|&&(th, _, _)| th < t.auto_approve) {
        chart
            .draw_series(std::iter::once(Circle::new((r, p), 6, GREEN.filled())))?
            .label(format!("auto-approve < {:.3}", t.auto_approve))
            .legend(|(x, y)| Circle::new((x + 8, y), 5, GREEN.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn histogram(scores: &[f32], labels: &[bool], class: bool) -> [f64; BINS] {
    let mut h = [0f64; BINS];
    let n = labels.iter().filter(|&&l| l == class).count().max(1) as f64;
    for (&s, &l) in scores.iter().zip(labels) {
        if l == class {
            let b = ((s.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1);
            h[b] += 1.0 / n;
        }
    }
    h
}

fn draw_hist(area: &Area<'_>, scores: &[f32], labels: &[bool], t: &Thresholds) -> DrawResult {
    let ham = histogram(scores, labels, false);
    let spam = histogram(scores, labels, true);
    let top = ham
        .iter()
        .chain(spam.iter())
        .cloned()
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.08;
    let mut chart = ChartBuilder::on(area)
        .caption("score distribution by class", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..1.0f64, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("spam score")
        .y_desc("fraction of class")
        .draw()?;
    let w = 1.0 / BINS as f64;
    for (h, color, name) in [(&ham, GREEN, "ham"), (&spam, RED, "spam")] {
        chart
            .draw_series(h.iter().enumerate().map(|(i, &v)| {
                let x0 = i as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w, v)], color.mix(0.35).filled())
            }))?
            .label(name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.35).filled())
            });
    }
    for (th, color, name) in [
        (t.auto_reject as f64, RED, "auto-reject"),
        (t.auto_approve as f64, GREEN, "auto-approve"),
    ] {
        chart
            .draw_series(LineSeries::new(
                vec![(th, 0.0), (th, top)],
                color.stroke_width(2),
            ))?
            .label(format!("{name} {th:.3}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg() {
        let scores = [0.05, 0.2, 0.4, 0.6, 0.8, 0.97];
        let labels = [false, false, true, false, true, true];
        let t = Thresholds {
            auto_reject: 0.8,
            auto_approve: 0.3,
            note: String::new(),
        };
        let path =
            std::env::temp_dir().join(format!("moderato-clf-plot-{}.svg", std::process::id()));
        write_svg(&path, "test report", &scores, &labels, &t).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("precision-recall"));
        assert!(svg.contains("auto-reject"));
    }

    #[test]
    fn histograms_sum_to_one() {
        let h = histogram(&[0.0, 0.5, 1.0, 0.99], &[true, true, true, false], true);
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((h[BINS - 1] - 1.0 / 3.0).abs() < 1e-9);
    }
}
