//! `/students`, the Grade Book: every student, linking to their page, with their
//! average formatted as the original did (`87.0%`).

use leptos::{either::EitherOf3, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{api::list_students, format, unavailable::Unavailable};

#[component]
pub fn Students() -> impl IntoView {
    let students = Resource::new(|| (), |_| list_students());
    view! {
        <Title text="Grade Book"/>
        <h1>"Grade Book"</h1>
        <Suspense fallback=|| view! { <p>"Loading students…"</p> }>
            {move || Suspend::new(async move {
                match students.await {
                    Err(err) => EitherOf3::A(view! {
                        <Unavailable what="grading service" error=err.to_string() retry=move || students.refetch()/>
                    }),
                    Ok(list) if list.is_empty() => EitherOf3::B(view! { <p class="empty">"No students found"</p> }),
                    Ok(list) => EitherOf3::C(view! {
                        <table class="data">
                            <caption class="visually-hidden">"Students and their average scores"</caption>
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col" class="number">"Average"</th>
                                    <th scope="col" class="number">"Grades"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list
                                    .into_iter()
                                    .map(|student| {
                                        view! {
                                            <tr>
                                                <td>
                                                    <A href=format!("/students/{}", student.id)>
                                                        {format!("{}, {}", student.last_name, student.first_name)}
                                                    </A>
                                                </td>
                                                <td class="number">
                                                    {student.average.map(format::percent).unwrap_or_else(|| "—".into())}
                                                </td>
                                                <td class="number">{student.grades.len()}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }),
                }
            })}
        </Suspense>
    }
}
