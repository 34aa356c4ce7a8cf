// The mesh overview page (control/overview/index.html), served by
// palisade-control at "/". It reads /api/v1/state and refreshes itself.
#ifndef PALISADE_CONTROL_OVERVIEW_OVERVIEW_PAGE_H_
#define PALISADE_CONTROL_OVERVIEW_OVERVIEW_PAGE_H_

namespace palisade::control::overview {

extern const char kOverviewHtml[];

}  // namespace palisade::control::overview

#endif  // PALISADE_CONTROL_OVERVIEW_OVERVIEW_PAGE_H_
