//! Labelled data sets: loaders for the supported formats, de-duplication and seeded stratified splits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::CommentText;

/// One labelled comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub name: String,
    pub phone: String,
    pub title: String,
    pub body: String,
    pub spam: bool,
    /// Origin inside the source (the video for YouTube), for grouped evaluation.
    pub group: String,
}

impl Example {
    /// A body-only example.
    pub fn body(body: &str, spam: bool) -> Self {
        Example {
            name: String::new(),
            phone: String::new(),
            title: String::new(),
            body: body.to_string(),
            spam,
            group: String::new(),
        }
    }

    /// The fields as the classifier sees them.
    pub fn text(&self) -> CommentText<'_> {
        CommentText {
            name: &self.name,
            phone: &self.phone,
            title: &self.title,
            body: &self.body,
        }
    }
}

/// Supported data formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// YouTube Spam Collection CSVs: COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS (a directory or one file).
    Youtube,
    /// SMS Spam Collection: `label<TAB>text`.
    Sms,
    /// ViSpamReviews: Rating,Comment,Label,SpamLabel (Label 1 = spam).
    Vispam,
    /// ViHSD: free_text,label_id (1 offensive or 2 hate = positive).
    Vihsd,
    /// UIT-ViCTSD: ,Comment,Constructiveness,Toxicity,Title,Topic (Toxicity 1 = positive).
    Victsd,
    /// Generic CSV with header `text,label` (or `body`, plus optional `name`, `title`, `phone`); spam/ham or 1/0.
    Csv,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Youtube => "youtube",
            Kind::Sms => "sms",
            Kind::Vispam => "vispam",
            Kind::Vihsd => "vihsd",
            Kind::Victsd => "victsd",
            Kind::Csv => "csv",
        }
    }

    /// License and attribution recorded in the model card.
    pub fn license(self) -> (&'static str, &'static str) {
        match self {
            Kind::Youtube => (
                "free to use with citation (UCI lists CC BY 4.0)",
                "YouTube Spam Collection v.1: Alberto, Lochter, Almeida, \"TubeSpam: Comment Spam Filtering on YouTube\", ICMLA 2015",
            ),
            Kind::Sms => (
                "free to use with citation (UCI lists CC BY 4.0)",
                "SMS Spam Collection v.1: Almeida, Gomez Hidalgo, Yamakami, \"Contributions to the Study of SMS Spam Filtering\", DocEng 2011",
            ),
            Kind::Vispam => (
                "research use only",
                "ViSpamReviews: Van Dinh, Luu, Nguyen, \"Detecting Spam Reviews on Vietnamese E-Commerce Websites\", ACIIDS 2022",
            ),
            Kind::Vihsd => (
                "research use only",
                "ViHSD: Luu, Nguyen, Nguyen, \"A Large-Scale Dataset for Hate Speech Detection on Vietnamese Social Media Texts\", IEA/AIE 2021",
            ),
            Kind::Victsd => (
                "research use only",
                "UIT-ViCTSD: Nguyen, Nguyen, Nguyen, \"Constructive and Toxic Speech Detection for Open-Domain Social Media Comments in Vietnamese\", IEA/AIE 2021",
            ),
            Kind::Csv => ("as provided by the data owner", "local CSV"),
        }
    }
}

/// `kind:path` as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub kind: Kind,
    pub path: PathBuf,
}

impl std::str::FromStr for DataSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, p) = s
            .split_once(':')
            .ok_or_else(|| format!("expected kind:path, got {s:?}"))?;
        let kind = match k {
            "youtube" => Kind::Youtube,
            "sms" => Kind::Sms,
            "vispam" => Kind::Vispam,
            "vihsd" => Kind::Vihsd,
            "victsd" => Kind::Victsd,
            "csv" => Kind::Csv,
            other => {
                return Err(format!(
                    "unknown data kind {other:?}; use youtube, sms, vispam, vihsd, victsd or csv"
                ));
            }
        };
        if p.is_empty() {
            return Err(format!("missing path in {s:?}"));
        }
        Ok(DataSpec {
            kind,
            path: PathBuf::from(p),
        })
    }
}

impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.path.display())
    }
}

fn csv_reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

fn column(headers: &csv::StringRecord, name: &str, path: &Path) -> anyhow::Result<usize> {
    headers
        .iter()
        .position(|h| h.trim_start_matches('\u{FEFF}').trim() == name)
        .with_context(|| {
            format!(
                "{}: no column {name:?} in header {headers:?}",
                path.display()
            )
        })
}

fn parse_label(v: &str, positive: &[&str], negative: &[&str], path: &Path) -> anyhow::Result<bool> {
    let v = v.trim();
    if positive.iter().any(|p| p.eq_ignore_ascii_case(v)) {
        Ok(true)
    } else if negative.iter().any(|n| n.eq_ignore_ascii_case(v)) {
        Ok(false)
    } else {
        bail!("{}: unexpected label {v:?}", path.display())
    }
}

/// Reads a CSV with `text_col` / `label_col` headers.
fn load_csv(
    path: &Path,
    text_col: &str,
    label_col: &str,
    positive: &[&str],
    negative: &[&str],
    name_col: Option<&str>,
    group: &str,
) -> anyhow::Result<Vec<Example>> {
    let mut rd = csv_reader(path)?;
    let headers = rd.headers()?.clone();
    let t = column(&headers, text_col, path)?;
    let l = column(&headers, label_col, path)?;
    let n = name_col.map(|c| column(&headers, c, path)).transpose()?;
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: bad CSV record {}", path.display(), i + 1))?;
        let (Some(text), Some(label)) = (rec.get(t), rec.get(l)) else {
            bail!("{}: record {} has too few fields", path.display(), i + 1);
        };
        let mut ex = Example::body(text, parse_label(label, positive, negative, path)?);
        ex.group = group.to_string();
        if let Some(n) = n {
            ex.name = rec.get(n).unwrap_or("").to_string();
        }
        out.push(ex);
    }
    Ok(out)
}

/// Generic CSV: a `text` (or `body`) column and a `label` column; optional `name`, `title`, `phone` columns fill
/// the other form fields. Labels: `spam` or `1` is spam; `ham`, `0` and `off_topic` (legitimate, if unrelated) are
/// ham; `abusive` rows (not advertising, not legitimate either) are left out, so `moderato labels export` files
/// train as they are.
fn load_generic_csv(path: &Path) -> anyhow::Result<Vec<Example>> {
    let mut rd = csv_reader(path)?;
    let headers = rd.headers()?.clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{FEFF}').trim() == name)
    };
    let t = find("text").or_else(|| find("body")).with_context(|| {
        format!(
            "{}: no \"text\" or \"body\" column in header {headers:?}",
            path.display()
        )
    })?;
    let l = column(&headers, "label", path)?;
    let (n, ti, ph) = (find("name"), find("title"), find("phone"));
    let field = |rec: &csv::StringRecord, c: Option<usize>| {
        c.and_then(|c| rec.get(c)).unwrap_or("").to_string()
    };
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: bad CSV record {}", path.display(), i + 1))?;
        let (Some(text), Some(label)) = (rec.get(t), rec.get(l)) else {
            bail!("{}: record {} has too few fields", path.display(), i + 1);
        };
        if label.trim().eq_ignore_ascii_case("abusive") {
            continue;
        }
        let mut ex = Example::body(
            text,
            parse_label(label, &["spam", "1"], &["ham", "0", "off_topic"], path)?,
        );
        ex.name = field(&rec, n);
        ex.title = field(&rec, ti);
        ex.phone = field(&rec, ph);
        out.push(ex);
    }
    Ok(out)
}

fn files_in(path: &Path, ext: &str) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("no .{ext} files in {}", path.display());
        }
        Ok(v)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Loads every example of a data source.
pub fn load(spec: &DataSpec) -> anyhow::Result<Vec<Example>> {
    let p = spec.path.as_path();
    match spec.kind {
        Kind::Youtube => {
            let mut out = Vec::new();
            for f in files_in(p, "csv")? {
                let group = f
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.extend(load_csv(
                    &f,
                    "CONTENT",
                    "CLASS",
                    &["1"],
                    &["0"],
                    Some("AUTHOR"),
                    &group,
                )?);
            }
            Ok(out)
        }
        Kind::Sms => {
            let mut out = Vec::new();
            let plain = p.join("SMSSpamCollection");
            let files = if p.is_dir() && plain.is_file() {
                vec![plain]
            } else {
                files_in(p, "tsv")?
            };
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let (label, body) = line.split_once('\t').with_context(|| {
                        format!("{}:{}: expected label<TAB>text", f.display(), i + 1)
                    })?;
                    let spam = parse_label(label, &["spam"], &["ham"], &f)?;
                    out.push(Example::body(body, spam));
                }
            }
            Ok(out)
        }
        Kind::Vispam => load_csv(p, "Comment", "Label", &["1"], &["0"], None, ""),
        Kind::Vihsd => load_csv(p, "free_text", "label_id", &["1", "2"], &["0"], None, ""),
        Kind::Victsd => load_csv(p, "Comment", "Toxicity", &["1"], &["0"], None, ""),
        Kind::Csv => load_generic_csv(p),
    }
}

fn dedup_key(e: &Example) -> String {
    let trim = |s: &str| {
        s.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
            .to_string()
    };
    format!("{}\u{1}{}", trim(&e.title), trim(&e.body))
}

/// Drops repeated texts (ignoring surrounding whitespace and byte-order marks), keeping the first copy.
pub fn dedup(examples: Vec<Example>) -> Vec<Example> {
    let mut seen = HashSet::new();
    examples
        .into_iter()
        .filter(|e| seen.insert(dedup_key(e)))
        .collect()
}

/// Seeded stratified split: returns (train, test) indices, each class split with the same test fraction.
pub fn stratified_split(
    labels: &[bool],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_test = ((idx.len() as f64) * test_fraction).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s: DataSpec = "youtube:data/youtube-spam".parse().unwrap();
        assert_eq!(s.kind, Kind::Youtube);
        assert_eq!(s.path, PathBuf::from("data/youtube-spam"));
        assert!("nope:x".parse::<DataSpec>().is_err());
        assert!("youtube".parse::<DataSpec>().is_err());
    }

    #[test]
    fn dedup_ignores_bom_and_space() {
        let v = vec![
            Example::body("hi there\u{FEFF}", false),
            Example::body(" hi there", false),
            Example::body("x", true),
        ];
        assert_eq!(dedup(v).len(), 2);
    }

    #[test]
    fn split_is_stratified_and_seeded() {
        let labels: Vec<bool> = (0..100).map(|i| i % 4 == 0).collect();
        let (tr, te) = stratified_split(&labels, 0.2, 7);
        assert_eq!(tr.len() + te.len(), 100);
        assert_eq!(te.iter().filter(|&&i| labels[i]).count(), 5);
        assert_eq!(te.len(), 20);
        assert_eq!(stratified_split(&labels, 0.2, 7), (tr.clone(), te.clone()));
        assert_ne!(stratified_split(&labels, 0.2, 8).1, te);
    }

    #[test]
    fn loads_csv_formats() {
        let dir = std::env::temp_dir().join(format!("moderato-clf-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yt = dir.join("Youtube09-Test.csv");
        std::fs::write(
            &yt,
            "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\na,Bob,,\"check, my channel\",1\nb,Ann,,nice,0\n",
        )
        .unwrap();
        let v = load(&DataSpec {
            kind: Kind::Youtube,
            path: dir.clone(),
        })
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].body, "check, my channel");
        assert_eq!(v[0].name, "Bob");
        assert_eq!(v[0].group, "Youtube09-Test");
        assert!(v[0].spam && !v[1].spam);
        let sms = dir.join("sms");
        std::fs::write(&sms, "ham\thello\nspam\tWIN now\n").unwrap();
        let v = load(&DataSpec {
            kind: Kind::Sms,
            path: sms,
        })
        .unwrap();
        assert_eq!(
            v,
            vec![
                Example::body("hello", false),
                Example::body("WIN now", true)
            ]
        );
        let g = dir.join("g.csv");
        std::fs::write(&g, "text,label\nbuy,spam\nhi,0\nodd,maybe\n").unwrap();
        let err = load(&DataSpec {
            kind: Kind::Csv,
            path: g,
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("unexpected label"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
