//! Benchmark: scoring a ~600-char Vietnamese comment with the default model, next to linfa's dense predict.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use moderato::classifier::CommentText;
use moderato::classifier::features::{Extractor, Scratch};
use ndarray::{Array1, Array2};

const BODY: &str = "Chào mọi người, mình đọc bài viết này thấy rất hay và bổ ích. Tuy nhiên mình muốn góp ý thêm \
một chút về vấn đề giao thông ở khu vực trung tâm thành phố: giờ cao điểm buổi sáng và buổi chiều đường Nguyễn Huệ, \
Lê Lợi luôn kẹt xe rất nghiêm trọng, nhiều khi mất gần một tiếng mới đi được vài cây số. Mong chính quyền sớm có \
phương án phân luồng hợp lý hơn, mở thêm tuyến xe buýt và làm bãi đỗ xe ngầm. À mà ai cần tư vấn đầu tư sinh lời \
nhanh thì ib zalo 0912 345 678 hoặc vào nhacai-uytin.example nhận thưởng 500k nhé!!! Cảm ơn tác giả rất nhiều.";

fn model_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn bench(c: &mut Criterion) {
    let scorer = moderato::scoring::Scorer::load(&model_dir())
        .expect("models/default must exist (moderato train ... --out models/default)");
    let model = scorer.model();
    let comment = CommentText {
        name: "Nguyễn Văn A",
        phone: "",
        title: "Góp ý về giao thông",
        body: BODY,
    };

    // The same model as a linfa FittedLogisticRegression: start the solver at the model's weights, zero steps.
    let kept = model.kept_buckets().to_vec();
    let (intercept, table) = model.weights();
    let k = kept.len();
    let mut init = Array1::<f32>::zeros(k + 1);
    for (j, &b) in kept.iter().enumerate() {
        init[j] = table[b as usize];
    }
    init[k] = intercept;
    // Spam is the majority here, so linfa's positive class is spam like the model's sign.
    let ds = Dataset::new(
        Array2::<f32>::zeros((3, k)),
        Array1::from(vec![true, true, false]),
    );
    let fitted = LogisticRegression::default()
        .max_iterations(0)
        .initial_params(init)
        .fit(&ds)
        .expect("linfa model");
    assert!(fitted.labels().pos.class);

    let extractor = Extractor::new(model.feature_config().clone());
    let mut scratch = Scratch::default();
    let dense_row = |scratch: &mut Scratch, row: &mut Array2<f32>| {
        extractor.extract(&comment, scratch);
        row.fill(0.0);
        for f in &scratch.feats {
            if let Ok(j) = kept.binary_search(&f.bucket) {
                row[[0, j]] += f.value;
            }
        }
    };
    let mut row = Array2::<f32>::zeros((1, k));
    dense_row(&mut scratch, &mut row);
    let linfa_p = fitted.predict_probabilities(&row)[0];
    let ours = model.score(&comment, 0).score;
    assert!(
        (linfa_p - ours).abs() < 1e-4,
        "linfa {linfa_p} vs sparse {ours}"
    );
    println!("comment: {} chars, score {ours:.4}", BODY.chars().count());

    let mut g = c.benchmark_group("classifier");
    g.bench_function("score_600_chars", |b| {
        b.iter(|| black_box(model.score(black_box(&comment), 0)))
    });
    g.bench_function("score_600_chars_5_reasons", |b| {
        b.iter(|| black_box(model.score(black_box(&comment), 5)))
    });
    // The whole decision path of a submission: model score with reasons, lexicon, combiner signals, policy.
    let policy = moderato::policy::document::Policy::default();
    g.bench_function("classify_decision_path", |b| {
        b.iter(|| {
            black_box(moderato::comment::classify(
                &policy,
                &scorer,
                u64::MAX,
                comment.name,
                "",
                comment.title,
                black_box(comment.body),
                0,
            ))
        })
    });
    // A submission's decision: the same, plus the body's campaign sketch and its decision as part of a campaign.
    g.bench_function("classify_submission_path", |b| {
        b.iter(|| {
            black_box(moderato::comment::classify_submission(
                &policy,
                &scorer,
                u64::MAX,
                moderato::scoring::AuthorStanding::default(),
                comment.name,
                "",
                comment.title,
                black_box(comment.body),
                0,
            ))
        })
    });
    // The campaign sketch alone (from the body's skeleton, built outside the loop).
    let body_skeleton = moderato::text::skeleton::skeleton(comment.body).spaced;
    g.bench_function("campaign_sketch_only", |b| {
        b.iter(|| black_box(moderato::text::sketch::sketch(black_box(&body_skeleton))))
    });
    // The shipped lexicon over the comment's matching forms (the skeleton is built outside the loop).
    let skeleton =
        moderato::text::skeleton::skeleton(&format!("{}\n{}", comment.title, comment.body));
    g.bench_function("lexicon_hits_only", |b| {
        b.iter(|| black_box(moderato::lexicon::Lexicon::shipped().hits(black_box(&skeleton))))
    });
    g.bench_function("features_only", |b| {
        b.iter(|| {
            extractor.extract(black_box(&comment), &mut scratch);
            black_box(scratch.feats.len())
        })
    });
    // The same extraction computing every word afresh: the baseline for the per-thread word memo.
    let mut fresh = Scratch::without_word_memo();
    g.bench_function("features_only_no_word_memo", |b| {
        b.iter(|| {
            extractor.extract(black_box(&comment), &mut fresh);
            black_box(fresh.feats.len())
        })
    });
    // Every comment of data/vi-dev in turn (one iteration extracts them all), written by many hands on many
    // subjects: after the first pass the memo holds their vocabulary, as it would a site's.
    let spec = format!(
        "csv:{}/data/vi-dev/comments.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let rows = moderato::classifier::data::load(&spec.parse().expect("data spec"))
        .expect("data/vi-dev/comments.csv");
    let corpus = |s: &mut Scratch| {
        let mut n = 0;
        for r in &rows {
            extractor.extract(&r.text(), s);
            n += s.feats.len();
        }
        n
    };
    let mut memo = Scratch::default();
    g.bench_function("features_vi_dev_corpus", |b| {
        b.iter(|| black_box(corpus(&mut memo)))
    });
    let mut fresh = Scratch::without_word_memo();
    g.bench_function("features_vi_dev_corpus_no_word_memo", |b| {
        b.iter(|| black_box(corpus(&mut fresh)))
    });
    g.bench_function("linfa_predict_dense_row_only", |b| {
        b.iter(|| black_box(fitted.predict_probabilities(black_box(&row))[0]))
    });
    g.bench_function("linfa_features_to_dense_row_and_predict", |b| {
        b.iter(|| {
            dense_row(&mut scratch, &mut row);
            black_box(fitted.predict_probabilities(&row)[0])
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
