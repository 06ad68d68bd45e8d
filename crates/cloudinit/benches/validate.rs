//! In-process throughput of `reimage_cloudinit::validate` over the `#cloud-config` files of the
//! corpus (`tests/cloud-init/corpus/`), and of one Jinja template with a loop
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
