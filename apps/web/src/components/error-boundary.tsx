import { Component, type ErrorInfo, type ReactNode } from "react";

interface Props {
  /** What to show instead of the subtree that failed to render (or to load). */
  fallback: () => ReactNode;
  children: ReactNode;
}

/**
 * Keeps one failing part of a page (a lazily loaded chunk that a new deployment replaced, a
 * render error) from blanking the whole app.
 */
export class ErrorBoundary extends Component<Props, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError() {
    return { failed: true };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error(error, info.componentStack);
  }

  override render() {
    return this.state.failed ? this.props.fallback() : this.props.children;
  }
}
