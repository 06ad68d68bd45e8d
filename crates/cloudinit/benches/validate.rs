//! In-process throughput of `reimage_cloudinit::validate` over the `#cloud-config` files of the
//! corpus (`tests/cloud-init/corpus/`), over a 10-part MIME multipart message (base64 parts,
//! as `cloud-init devel make-mime` writes them, made of ten `#cloud-config` corpus files spread
//! evenly over it), and of one Jinja template with a loop
//! (`tests/cloud-init/jinja/loop-keys.yaml`, rendered and validated). Run with `cargo bench -p reimage-cloudinit`; the figures
//! go to `docs/benchmarks.md`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reimage_cloudinit::Options;
use reimage_cloudinit::schema::Version;

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cloud-init/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|bytes| bytes.starts_with(b"#cloud-config\n"))
        .collect()
}

/// A MIME multipart message of ten base64 cloud-config parts.
fn ten_parts() -> Vec<u8> {
    use base64::Engine as _;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cloud-init/corpus");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    let all: Vec<Vec<u8>> = names
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|bytes| bytes.starts_with(b"#cloud-config\n"))
        .collect();
    let parts: Vec<&Vec<u8>> = all
        .iter()
        .step_by((all.len() / 10).max(1))
        .take(10)
        .collect();
    let mut message =
        String::from("Content-Type: multipart/mixed; boundary=\"==b==\"\nMIME-Version: 1.0\n\n");
    for (i, part) in parts.iter().enumerate() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(part);
        message.push_str(&format!(
            "--==b==\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\n\
             Content-Transfer-Encoding: base64\nContent-Disposition: attachment; \
             filename=\"part{i}.yaml\"\n\n{encoded}\n"
        ));
    }
    message.push_str("--==b==--\n");
    message.into_bytes()
}

fn bench(c: &mut Criterion) {
    let files = corpus();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(files.len() as u64));
    for version in Version::ALL {
        let options = Options::default().with_version(version);
        group.bench_function(format!("corpus/cloud-init-{version}"), |b| {
            b.iter(|| {
                for bytes in &files {
                    black_box(reimage_cloudinit::validate(black_box(bytes), &options));
                }
            })
        });
    }
    group.finish();
    let message = ten_parts();
    let options = Options::default();
    c.bench_function("validate/multipart-10-parts", |b| {
        b.iter(|| black_box(reimage_cloudinit::validate(black_box(&message), &options)))
    });

    // A template with a loop, rendered with the Jinja corpus's instance data and validated.
    let jinja = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cloud-init/jinja");
    if let (Ok(template), Ok(data)) = (
        std::fs::read(jinja.join("loop-keys.yaml")),
        std::fs::read(jinja.join("instance-data.json")),
    ) && let Ok(data) = reimage_cloudinit::jinja::InstanceData::from_json(&data)
    {
        let options = Options::default().with_instance_data(data);
        c.bench_function("validate/jinja-loop-template", |b| {
            b.iter(|| black_box(reimage_cloudinit::validate(black_box(&template), &options)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
