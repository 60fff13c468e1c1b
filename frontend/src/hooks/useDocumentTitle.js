import { useEffect } from 'react';

const APP_NAME = 'Todolist';

/**
 * Names the current view in the tab title ("Active todos · Todolist"), so tabs, history
 * and screen readers (which announce the title on navigation) tell views apart.
 */
export function useDocumentTitle(view) {
  useEffect(() => {
    if (typeof document === 'undefined') return; // Component tests render without a DOM.
    document.title = view ? `${view} · ${APP_NAME}` : APP_NAME;
  }, [view]);
}
