//! Paints the demo project's pictures: procedural landscapes of four classes (beach, forest,
//! mountain, city at night), 640×480 JPEGs under `assets/demo/<class>/`.
//!
//! Everything is drawn from noise, gradients and shapes with a fixed seed, so the output is
//! reproducible and free of anyone else's rights.
//!
//! ```sh
//! cargo run --example make_demo_assets            # writes assets/demo/
//! cargo run --example make_demo_assets -- OUTDIR  # writes elsewhere
//! ```

use std::path::PathBuf;

const W: usize = 640;
const H: usize = 480;
const PER_CLASS: usize = 10;
const QUALITY: u8 = 66;

type Rgb = [f32; 3];

use keylabel_testkit::Rng;

fn hash2(x: i32, y: i32, seed: u32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x8da6_b343)
        ^ (y as u32).wrapping_mul(0xd816_3841)
        ^ seed.wrapping_mul(0xcb1a_b31f);
    h = (h ^ (h >> 13)).wrapping_mul(0x5bd1_e995);
    h ^= h >> 15;
    (h & 0xffff) as f32 / 65535.0
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

fn noise(x: f32, y: f32, seed: u32) -> f32 {
    let (xi, yi) = (x.floor() as i32, y.floor() as i32);
    let (xf, yf) = (smooth(x - x.floor()), smooth(y - y.floor()));
    let a = hash2(xi, yi, seed);
    let b = hash2(xi + 1, yi, seed);
    let c = hash2(xi, yi + 1, seed);
    let d = hash2(xi + 1, yi + 1, seed);
    lerp(lerp(a, b, xf), lerp(c, d, xf), yf)
}

fn fbm(x: f32, y: f32, seed: u32, octaves: u32) -> f32 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 0.5, 1.0, 0.0);
    for o in 0..octaves {
        sum += amp * noise(x * freq, y * freq, seed.wrapping_add(o * 101));
        norm += amp;
        amp *= 0.5;
        freq *= 2.0;
    }
    sum / norm
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    let t = t.clamp(0.0, 1.0);
    [
        lerp(a[0], b[0], t),
        lerp(a[1], b[1], t),
        lerp(a[2], b[2], t),
    ]
}

fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

fn smoothstep(a: f32, b: f32, x: f32) -> f32 {
    smooth(((x - a) / (b - a)).clamp(0.0, 1.0))
}

struct Canvas {
    px: Vec<Rgb>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            px: vec![[0.0; 3]; W * H],
        }
    }
    fn at(&mut self, x: usize, y: usize) -> &mut Rgb {
        &mut self.px[y * W + x]
    }
    fn fill(&mut self, f: impl Fn(f32, f32) -> Rgb) {
        for y in 0..H {
            for x in 0..W {
                self.px[y * W + x] = f(x as f32, y as f32);
            }
        }
    }
    fn blend(&mut self, x: i32, y: i32, c: Rgb, a: f32) {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let p = self.at(x as usize, y as usize);
            *p = mix(*p, c, a);
        }
    }
    fn disc(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, a: f32) {
        let (x0, x1) = ((cx - r - 1.0) as i32, (cx + r + 1.0) as i32);
        let (y0, y1) = ((cy - r - 1.0) as i32, (cy + r + 1.0) as i32);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let cov = (r + 0.5 - d).clamp(0.0, 1.0);
                if cov > 0.0 {
                    self.blend(x, y, c, a * cov);
                }
            }
        }
    }
    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Rgb) {
        for y in (y0.max(0.0) as usize)..(y1.min(H as f32) as usize) {
            for x in (x0.max(0.0) as usize)..(x1.min(W as f32) as usize) {
                *self.at(x, y) = c;
            }
        }
    }
    /// Vignette, a little grain, and 8-bit output.
    fn finish(&self, seed: u32) -> image::RgbImage {
        let mut out = image::RgbImage::new(W as u32, H as u32);
        for y in 0..H {
            for x in 0..W {
                let (u, v) = (x as f32 / W as f32 - 0.5, y as f32 / H as f32 - 0.5);
                let vig = 1.0 - 0.45 * (u * u + v * v);
                let grain = (hash2(x as i32, y as i32, seed ^ 0x55) - 0.5) * 0.012;
                let c = self.px[y * W + x];
                let px =
                    c.map(|v| ((v * vig + grain).clamp(0.0, 1.0).powf(1.0 / 1.1) * 255.0) as u8);
                out.put_pixel(x as u32, y as u32, image::Rgb(px));
            }
        }
        out
    }
}

fn beach(rng: &mut Rng, seed: u32) -> Canvas {
    let mut c = Canvas::new();
    let horizon = rng.range(0.40, 0.52) * H as f32;
    let shore = rng.range(0.66, 0.76) * H as f32;
    let (sx, sy) = (rng.range(80.0, 560.0), rng.range(40.0, horizon - 60.0));
    let evening = rng.chance(0.3);
    let (sky_top, sky_low): (Rgb, Rgb) = if evening {
        ([0.22, 0.32, 0.62], [0.98, 0.72, 0.48])
    } else {
        ([0.18, 0.45, 0.85], [0.72, 0.86, 0.97])
    };
    let phase = rng.range(0.0, std::f32::consts::TAU);
    let cloudiness = rng.range(0.45, 0.62);
    c.fill(|x, y| {
        let shore_y =
            shore + 10.0 * (x / 97.0 + phase).sin() + 14.0 * (fbm(x / 120.0, 0.5, seed, 3) - 0.5);
        if y < horizon {
            let t = (y / horizon).powf(0.8);
            let mut col = mix(sky_top, sky_low, t);
            let d = ((x - sx).powi(2) + (y - sy).powi(2)).sqrt();
            let glow = (-d / 70.0).exp() * 0.8 + (-d / 14.0).exp() * 2.0;
            col = mix(col, [1.0, 0.97, 0.85], glow.min(1.0));
            let n = fbm(x / 160.0, y / 45.0, seed + 7, 5);
            let cover = smoothstep(cloudiness, cloudiness + 0.2, n) * (1.0 - t * 0.4);
            let shade = 0.82 + 0.18 * fbm(x / 40.0, y / 20.0 + 3.0, seed + 9, 3);
            let cloud = if evening {
                [1.0, 0.8, 0.7]
            } else {
                [0.98, 0.98, 1.0]
            };
            mix(col, scale(cloud, shade), cover)
        } else if y < shore_y {
            let t = ((y - horizon) / (shore_y - horizon)).clamp(0.0, 1.0);
            let deep: Rgb = if evening {
                [0.1, 0.2, 0.38]
            } else {
                [0.04, 0.28, 0.5]
            };
            let mut col = mix(deep, [0.12, 0.62, 0.64], t.powf(1.6));
            let streak = fbm(
                x / (70.0 + 200.0 * (1.0 - t)),
                y / (1.5 + 6.0 * t),
                seed + 3,
                4,
            );
            col = mix(col, [0.9, 0.95, 1.0], smoothstep(0.62, 0.8, streak) * 0.5);
            let sun_col = (-((x - sx) / (25.0 + 90.0 * t)).powi(2)).exp();
            let sparkle = smoothstep(0.55, 0.75, noise(x / 3.0, y / 1.5, seed + 4));
            col = mix(col, [1.0, 0.95, 0.8], sun_col * sparkle * 0.9);
            let foam = smoothstep(shore_y - 9.0, shore_y - 1.0, y)
                * (0.6 + 0.4 * noise(x / 6.0, y / 2.0, seed + 5));
            mix(col, [0.96, 0.97, 0.96], foam)
        } else {
            let wet = (-(y - shore_y) / 22.0).exp();
            let dry: Rgb = [0.87, 0.78, 0.6];
            let mut col = mix(dry, [0.62, 0.55, 0.42], wet * 0.8);
            let g = fbm(x / 9.0, y / 5.0, seed + 6, 3) - 0.5;
            let dune = fbm(x / 200.0, y / 40.0, seed + 8, 3) - 0.5;
            col = scale(col, 1.0 + g * 0.18 + dune * 0.25);
            col
        }
    });
    if rng.chance(0.6) {
        palm(&mut c, rng, shore);
    }
    c
}

fn palm(c: &mut Canvas, rng: &mut Rng, shore: f32) {
    let left = rng.chance(0.5);
    let bx = if left {
        rng.range(40.0, 160.0)
    } else {
        rng.range(480.0, 600.0)
    };
    let by = (shore + rng.range(60.0, 120.0)).min(H as f32 + 10.0);
    let lean = if left {
        rng.range(30.0, 90.0)
    } else {
        -rng.range(30.0, 90.0)
    };
    let top_y = rng.range(70.0, 150.0);
    let trunk: Rgb = [0.25, 0.18, 0.12];
    let steps = 200;
    let (mut tx, mut ty) = (bx, by);
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        tx = bx + lean * t * t;
        ty = by + (top_y - by) * t;
        let r = lerp(9.0, 5.0, t);
        let ring = if (t * 40.0).fract() < 0.2 { 0.8 } else { 1.0 };
        c.disc(tx, ty, r, scale(trunk, ring), 1.0);
    }
    let frond: Rgb = [0.1, 0.28, 0.12];
    let n = 8;
    for k in 0..n {
        let ang = -3.0 + k as f32 * (6.0 / n as f32) + rng.range(-0.2, 0.2);
        let len = rng.range(90.0, 140.0);
        let (dx, dy) = (ang.cos(), ang.sin() * 0.45);
        for i in 0..80 {
            let t = i as f32 / 80.0;
            let px = tx + dx * len * t;
            let py = ty + dy * len * t + 70.0 * t * t;
            let w = 6.0 * (1.0 - t) + 1.0;
            c.disc(px, py, w, scale(frond, 0.8 + 0.4 * t), 1.0);
            if i % 4 == 0 {
                for side in [-1.0f32, 1.0] {
                    for j in 0..10 {
                        let s = j as f32 / 10.0;
                        c.disc(
                            px + side * dy * 18.0 * s,
                            py + (side * dx * 6.0 + 14.0) * s,
                            1.4,
                            frond,
                            0.9,
                        );
                    }
                }
            }
        }
    }
}

fn forest(rng: &mut Rng, seed: u32) -> Canvas {
    let mut c = Canvas::new();
    let warm = rng.range(0.0, 1.0);
    let sky_top: Rgb = [0.55, 0.66, 0.74];
    let sky_low: Rgb = mix([0.86, 0.88, 0.84], [0.97, 0.86, 0.66], warm);
    c.fill(|_, y| mix(sky_top, sky_low, y / H as f32));
    let layers = 6;
    let tree_near: Rgb = [0.05, 0.16, 0.09];
    for k in 0..layers {
        let depth = k as f32 / (layers - 1) as f32; // 0 far, 1 near
        let fog = 1.0 - depth;
        let col = mix(tree_near, mix(sky_low, sky_top, 0.3), fog * 0.82);
        let base = H as f32 * (0.42 + 0.56 * depth.powf(1.3)) + rng.range(-10.0, 10.0);
        let spacing = 14.0 + depth * depth * 90.0;
        let scale_h = 0.5 + depth * depth * 2.4;
        let s = seed + k as u32 * 17;
        // Ground of this layer: a soft hill line.
        for x in 0..W {
            let hill = base + 18.0 * (fbm(x as f32 / 180.0, k as f32, s, 3) - 0.5);
            for y in (hill.max(0.0) as usize)..H {
                let p = c.at(x, y);
                *p = scale(col, 0.95 + 0.1 * noise(x as f32 / 8.0, y as f32 / 8.0, s));
            }
        }
        let mut x = -spacing * rng.unit_f32();
        while x < W as f32 + spacing {
            let ht = rng.range(70.0, 150.0) * scale_h;
            let half = ht * rng.range(0.2, 0.3);
            let foot = base + 18.0 * (fbm(x / 180.0, k as f32, s, 3) - 0.5) + 6.0;
            let apex = foot - ht;
            let tiers = rng.range(5.0, 9.0);
            let shade = rng.range(0.85, 1.1);
            for y in (apex.max(0.0) as i32)..(foot.min(H as f32) as i32) {
                let t = (y as f32 - apex) / ht;
                let saw = (t * tiers).fract();
                let w = half * t * (0.6 + 0.4 * saw) + 1.0;
                let jag = 3.0 * (noise(y as f32 / 2.0, x, s) - 0.5) * (0.5 + depth);
                for px in ((x - w + jag) as i32)..=((x + w + jag) as i32) {
                    // Light from the upper left: the right side of each tree is darker.
                    let side = if (px as f32) > x { 0.82 } else { 1.0 };
                    c.blend(px, y, scale(col, shade * side), 1.0);
                }
            }
            x += spacing * rng.range(0.5, 1.2);
        }
    }
    // Low sun through the mist: soft diagonal rays.
    let ray_angle = rng.range(0.3, 0.9);
    let ray_freq = rng.range(0.02, 0.04);
    for y in 0..H {
        for x in 0..W {
            let v = ((x as f32 * ray_angle + y as f32) * ray_freq + seed as f32).sin();
            let fade = 1.0 - y as f32 / H as f32;
            let p = c.at(x, y);
            *p = mix(*p, [1.0, 0.95, 0.8], smoothstep(0.6, 1.0, v) * 0.12 * fade);
            let mist = smoothstep(
                0.35,
                0.75,
                fbm(x as f32 / 150.0, y as f32 / 40.0, seed + 2, 4),
            );
            *p = mix(*p, sky_low, mist * 0.18 * (0.4 + fade));
        }
    }
    c
}

fn mountain(rng: &mut Rng, seed: u32) -> Canvas {
    let mut c = Canvas::new();
    let dusk = rng.chance(0.3);
    let (sky_top, sky_low): (Rgb, Rgb) = if dusk {
        ([0.2, 0.25, 0.5], [0.98, 0.66, 0.45])
    } else {
        ([0.2, 0.42, 0.8], [0.8, 0.88, 0.96])
    };
    c.fill(|x, y| {
        let t = y / H as f32;
        let col = mix(sky_top, sky_low, t.powf(0.7));
        let wisp = smoothstep(0.6, 0.8, fbm(x / 220.0, y / 25.0, seed + 1, 5)) * (1.0 - t);
        mix(col, [1.0, 1.0, 1.0], wisp * 0.6)
    });
    let lake = rng.chance(0.5);
    let water_y = if lake {
        rng.range(0.74, 0.82) * H as f32
    } else {
        H as f32
    };
    let haze = mix(sky_low, sky_top, 0.3);
    // Rocky relief: a ridged noise field, lit from the upper left.
    let relief = |x: f32, y: f32, s: u32| 1.0 - (2.0 * fbm(x / 70.0, y / 50.0, s, 5) - 1.0).abs();
    // Far snowy range, a middle range, a near forested ridge.
    let specs = [
        (0.50, rng.range(190.0, 260.0), true, 0.75),
        (0.62, rng.range(120.0, 170.0), true, 0.4),
        (0.80, rng.range(50.0, 90.0), false, 0.0),
    ];
    for (k, &(base_f, amp, snowy, fog)) in specs.iter().enumerate() {
        let s = seed + 31 * k as u32;
        let base = H as f32 * base_f;
        let peak_x = rng.range(120.0, 520.0);
        let peak_w = rng.range(90.0, 170.0);
        let rock: Rgb = if dusk {
            [0.3, 0.24, 0.3]
        } else {
            [0.36, 0.35, 0.37]
        };
        let forest_col: Rgb = [0.08, 0.17, 0.1];
        let snowline = base - amp * rng.range(0.35, 0.55);
        for x in 0..W {
            let xf = x as f32;
            let ridge = 1.0 - (2.0 * fbm(xf / 160.0, k as f32 * 3.0, s, 6) - 1.0).abs();
            let peak = (-((xf - peak_x) / peak_w).powi(2)).exp();
            let top = base - amp * (0.55 * peak + 0.45 * ridge * ridge);
            for y in (top.max(0.0) as usize)..(water_y as usize) {
                let yf = y as f32;
                let r0 = relief(xf, yf, s);
                let grad = relief(xf + 2.0, yf + 2.0, s) - r0;
                let light = (0.85 - grad * 6.0).clamp(0.45, 1.3);
                let mut p = if snowy {
                    scale(rock, light)
                } else {
                    scale(forest_col, 0.8 + 0.4 * light * noise(xf / 3.0, yf / 4.0, s))
                };
                if snowy {
                    let edge =
                        snowline + 60.0 * (fbm(xf / 25.0, yf / 40.0, s + 9, 4) - 0.5) + 40.0 * r0;
                    if yf < edge {
                        let snow: Rgb = if dusk {
                            [1.0, 0.84, 0.8]
                        } else {
                            [0.96, 0.97, 1.0]
                        };
                        p = mix(p, scale(snow, light.min(1.05)), 0.92);
                    }
                    // Lower slopes fade into dark forest.
                    let low = smoothstep(top + amp * 0.6, top + amp * 1.1, yf);
                    p = mix(p, scale(forest_col, 0.9 + 0.3 * r0), low * 0.85);
                }
                let depth_fog = fog * (0.55 + 0.45 * smoothstep(top, base + 40.0, yf));
                *c.at(x, y) = mix(p, haze, depth_fog);
            }
        }
    }
    if lake {
        let wy = water_y as usize;
        for y in wy..H {
            for x in 0..W {
                let dy = y - wy;
                let ripple = 3.0
                    * (noise(x as f32 / 40.0, y as f32 / 3.0, seed + 11) - 0.5)
                    * (1.0 + dy as f32 / 20.0);
                let sx = (x as f32 + ripple).clamp(0.0, W as f32 - 1.0) as usize;
                let sy = wy.saturating_sub(dy + 1);
                let src = c.px[sy * W + sx];
                let water: Rgb = [0.1, 0.22, 0.3];
                c.px[y * W + x] = mix(scale(src, 0.75), water, 0.35 + dy as f32 / H as f32);
            }
        }
    }
    c
}

fn city(rng: &mut Rng, seed: u32) -> Canvas {
    let mut c = Canvas::new();
    let water = rng.chance(0.5);
    let ground = if water {
        rng.range(0.68, 0.78) * H as f32
    } else {
        H as f32 * 0.96
    };
    let glow_col: Rgb = mix([0.55, 0.25, 0.2], [0.35, 0.2, 0.45], rng.unit_f32());
    c.fill(|x, y| {
        let t = y / ground;
        let mut col = mix([0.01, 0.02, 0.07], [0.1, 0.08, 0.22], t.powf(1.5));
        col = mix(col, glow_col, smoothstep(0.5, 1.0, t) * 0.7);
        let cloud = smoothstep(0.55, 0.8, fbm(x / 200.0, y / 50.0, seed + 3, 5));
        mix(col, scale(glow_col, 0.6), cloud * 0.4 * t)
    });
    for _ in 0..260 {
        let (x, y) = (rng.range(0.0, W as f32), rng.range(0.0, ground * 0.6));
        let b = rng.range(0.2, 0.9);
        c.blend(x as i32, y as i32, [1.0, 1.0, 0.95], b * (1.0 - y / ground));
    }
    if rng.chance(0.6) {
        let (mx, my, r) = (
            rng.range(60.0, 580.0),
            rng.range(40.0, 120.0),
            rng.range(14.0, 22.0),
        );
        for y in 0..H {
            for x in 0..W {
                let d = ((x as f32 - mx).powi(2) + (y as f32 - my).powi(2)).sqrt();
                let g = (-(d - r).max(0.0) / 40.0).exp() * 0.25;
                let p = c.at(x, y);
                *p = mix(*p, [0.9, 0.9, 0.8], g);
            }
        }
        c.disc(mx, my, r, [0.97, 0.95, 0.86], 1.0);
        c.disc(
            mx + r * 0.3,
            my - r * 0.2,
            r * 0.25,
            [0.85, 0.83, 0.76],
            0.6,
        );
    }
    for layer in 0..3 {
        let depth = layer as f32 / 2.0;
        let facade: Rgb = mix([0.09, 0.09, 0.16], [0.03, 0.03, 0.05], depth);
        let (cw, ch) = (lerp(4.0, 7.0, depth), lerp(5.0, 10.0, depth));
        let mut x = rng.range(-30.0, 0.0);
        while x < W as f32 {
            let w = rng.range(28.0, 80.0) * lerp(0.8, 1.4, depth);
            let h = rng.range(60.0, 260.0) * lerp(1.0, 0.8, depth) + 30.0 * (1.0 - depth);
            let top = ground - h;
            c.rect(x, top, x + w, ground, facade);
            if rng.chance(0.3) {
                let aw = w * 0.15;
                c.rect(x + w / 2.0 - aw, top - 20.0, x + w / 2.0 + aw, top, facade);
                c.disc(x + w / 2.0, top - 24.0, 1.5, [1.0, 0.2, 0.2], 1.0);
            }
            let lit_p = rng.range(0.2, 0.6);
            let warm = rng.chance(0.7);
            let mut wy = top + ch;
            let mut row = 0;
            while wy + ch < ground - 4.0 {
                let mut wx = x + cw;
                let mut col = 0;
                while wx + cw < x + w - 2.0 {
                    let r = hash2(col + (x as i32) * 7, row + layer * 1000, seed);
                    let win = if r < lit_p {
                        let k = 0.7 + 0.3 * hash2(col, row, seed + 1);
                        if warm {
                            scale([1.0, 0.8, 0.45], k)
                        } else {
                            scale([0.75, 0.85, 1.0], k)
                        }
                    } else {
                        scale(facade, 1.6)
                    };
                    c.rect(wx, wy, wx + cw * 0.7, wy + ch * 0.6, win);
                    wx += cw * 1.5;
                    col += 1;
                }
                wy += ch * 1.3;
                row += 1;
            }
            x += w + rng.range(-5.0, 12.0);
        }
    }
    let gy = ground as usize;
    if water {
        for y in gy..H {
            for x in 0..W {
                let dy = y - gy;
                let wob = 6.0 * (noise(x as f32 / 25.0, y as f32 / 2.0, seed + 5) - 0.5);
                let sx = (x as f32 + wob).clamp(0.0, W as f32 - 1.0) as usize;
                let sy = gy.saturating_sub(dy * 2 / 3 + 1);
                let src = c.px[sy * W + sx];
                c.px[y * W + x] = mix(scale(src, 0.55), [0.01, 0.02, 0.05], 0.3);
            }
        }
    } else {
        for y in gy..H {
            for x in 0..W {
                let lamp = (x as f32 / 80.0 * std::f32::consts::TAU)
                    .cos()
                    .max(0.0)
                    .powi(8);
                c.px[y * W + x] = mix([0.05, 0.04, 0.05], [0.9, 0.6, 0.3], lamp * 0.5);
            }
        }
    }
    c
}

type Painter = fn(&mut Rng, u32) -> Canvas;

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("assets/demo"));
    let classes: [(&str, Painter); 4] = [
        ("beach", beach),
        ("forest", forest),
        ("mountain", mountain),
        ("city", city),
    ];
    let mut total = 0u64;
    for (ci, (name, paint)) in classes.iter().enumerate() {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)?;
        for i in 0..PER_CLASS {
            let seed = (ci * 1000 + i) as u32 + 12345;
            let mut rng = Rng::new(u64::from(seed) * 0x1234_5678_9abc);
            let canvas = paint(&mut rng, seed);
            let img = canvas.finish(seed);
            let path = dir.join(format!("{name}_{:02}.jpg", i + 1));
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, QUALITY)
                .encode_image(&img)?;
            std::fs::write(&path, &bytes)?;
            total += bytes.len() as u64;
            println!("{} ({} KB)", path.display(), bytes.len() / 1024);
        }
    }
    println!("total {} KB", total / 1024);
    Ok(())
}
