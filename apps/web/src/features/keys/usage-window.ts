// The usage view's time windows: on its own so the key details page can prefetch the default
// window without pulling the (lazily loaded) usage code into the initial bundle.
export const WINDOW_CHOICES = [1, 7, 30, 90] as const;
export type WindowDays = (typeof WINDOW_CHOICES)[number];
export const DEFAULT_WINDOW: WindowDays = 30;
