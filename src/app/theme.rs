//! The look: a calm dark theme with large, legible text.

use egui::{Color32, FontFamily, FontId, TextStyle};

/// Window background behind the sample.
pub const BACKGROUND: Color32 = Color32::from_rgb(0x16, 0x18, 0x1c);
/// Panels around the sample.
pub const PANEL: Color32 = Color32::from_rgb(0x1f, 0x22, 0x28);
pub const TEXT: Color32 = Color32::from_rgb(0xdd, 0xe1, 0xe7);
pub const MUTED: Color32 = Color32::from_rgb(0x9a, 0xa3, 0xaf);
pub const ACCENT: Color32 = Color32::from_rgb(0x5b, 0x9c, 0xf5);
pub const WARN: Color32 = Color32::from_rgb(0xf0, 0xb4, 0x4c);
pub const ERROR: Color32 = Color32::from_rgb(0xf2, 0x6d, 0x6d);
pub const OK: Color32 = Color32::from_rgb(0x6f, 0xcf, 0x97);

/// Applies the theme to every style of `ctx`.
pub fn apply(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|style| {
        style.text_styles = [
            (
                TextStyle::Small,
                FontId::new(13.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(16.0, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(16.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Heading,
                FontId::new(24.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(15.0, FontFamily::Monospace),
            ),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(10.0, 8.0);
        style.spacing.button_padding = egui::vec2(10.0, 5.0);
        let v = &mut style.visuals;
        v.dark_mode = true;
        v.panel_fill = PANEL;
        v.window_fill = PANEL;
        v.extreme_bg_color = BACKGROUND;
        v.override_text_color = Some(TEXT);
        v.selection.bg_fill = ACCENT.gamma_multiply(0.6);
        v.hyperlink_color = ACCENT;
    });
}

/// Parses `#rrggbb` (a class colour); grey when unreadable.
pub fn parse_color(hex: &str) -> Color32 {
    let hex = hex.trim_start_matches('#');
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0x99)
    };
    if hex.len() == 6 {
        Color32::from_rgb(byte(0), byte(2), byte(4))
    } else {
        Color32::GRAY
    }
}

/// The frame of every side, top and bottom panel: the panel colour and a margin.
pub fn panel_frame(margin: egui::Margin) -> egui::Frame {
    egui::Frame::NONE.fill(PANEL).inner_margin(margin)
}
